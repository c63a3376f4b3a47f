//! A state's `parallel:` functions: awaited together, each reading the record and returning the
//! [`Change`] to make to it; the changes are applied, in the order the state lists the
//! functions, once every one has succeeded. The first failure drops the others' futures (their
//! calls in flight are cancelled) and is the state's failure.
//!
//! Why changes rather than `&mut` access: the functions run at the same time, so none can hold
//! the record mutably; each reads it, does its waiting, and says what to write. No executor is
//! needed: the join polls its branches itself, so it works under any runtime.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::core::FnError;

/// What a function of a state's `parallel:` list returns: the change to make to the record once
/// every function of the list has succeeded, as `Ok(Box::new(move |order| order.credit = credit))`.
pub type Change<D> = Box<dyn FnOnce(&mut D) + Send>;

/// One function of a `parallel:` list in flight: its name and its future.
pub type Branch<'a, D> = (
    &'static str,
    Pin<Box<dyn Future<Output = Result<Change<D>, FnError>> + Send + 'a>>,
);

/// Boxes the future of a `parallel:` function (what generated code hands to [`join`]).
pub fn branch<'a, D>(
    name: &'static str,
    future: impl Future<Output = Result<Change<D>, FnError>> + Send + 'a,
) -> Branch<'a, D> {
    (name, Box::pin(future))
}

/// Awaits every branch at once: their changes in the branches' order, or the first failure with
/// the name of its function (the other branches are dropped, cancelling their calls).
pub fn join<D>(branches: Vec<Branch<'_, D>>) -> Join<'_, D> {
    let done = branches.iter().map(|_| None).collect();
    Join {
        pending: branches.into_iter().map(Some).collect(),
        done,
    }
}

/// The future of [`join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, D> {
    pending: Vec<Option<Branch<'a, D>>>,
    done: Vec<Option<Change<D>>>,
}

impl<D> Future for Join<'_, D> {
    type Output = Result<Vec<Change<D>>, (&'static str, FnError)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is `Unpin` (the branches are boxed): no pinning projection needed.
        let this = self.get_mut();
        let mut waiting = false;
        for (slot, done) in this.pending.iter_mut().zip(this.done.iter_mut()) {
            let Some((name, future)) = slot else { continue };
            match future.as_mut().poll(cx) {
                Poll::Pending => waiting = true,
                Poll::Ready(Ok(change)) => {
                    *done = Some(change);
                    *slot = None;
                }
                Poll::Ready(Err(error)) => {
                    let name = *name;
                    // Drops the other branches now: their calls are cancelled.
                    this.pending.clear();
                    return Poll::Ready(Err((name, error)));
                }
            }
        }
        if waiting {
            return Poll::Pending;
        }
        Poll::Ready(Ok(this.done.iter_mut().filter_map(Option::take).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// Ready after `polls` polls.
    struct After(u32);
    impl Future for After {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 == 0 {
                return Poll::Ready(());
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn changes_come_in_the_lists_order_and_a_failure_drops_the_rest() {
        let slow = branch("slow", async {
            After(3).await;
            Ok(Box::new(|d: &mut Vec<u8>| d.push(1)) as Change<Vec<u8>>)
        });
        let fast = branch("fast", async {
            Ok(Box::new(|d: &mut Vec<u8>| d.push(2)) as Change<Vec<u8>>)
        });
        let changes = block_on(join(vec![slow, fast])).unwrap_or_default();
        let mut record = Vec::new();
        for change in changes {
            change(&mut record);
        }
        assert_eq!(record, [1, 2], "in the list's order, not the finishing order");

        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = finished.clone();
        let never = branch("never", async move {
            After(1000).await;
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(Box::new(|_: &mut Vec<u8>| ()) as Change<Vec<u8>>)
        });
        let failing = branch::<Vec<u8>>("failing", async {
            After(2).await;
            Err(FnError::new("down"))
        });
        let failed = block_on(join(vec![never, failing]));
        assert!(matches!(&failed, Err(("failing", _))));
        assert!(
            !finished.load(std::sync::atomic::Ordering::SeqCst),
            "the other branch was dropped"
        );
        assert!(block_on(join::<()>(Vec::new())).is_ok_and(|c| c.is_empty()));
    }
}
