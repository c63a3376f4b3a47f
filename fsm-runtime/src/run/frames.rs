//! The stack of push-arc frames a run keeps while it is inside pushed networks.

/// The return frames of push arcs: each frame is the state to continue at when the pushed
/// network ends (`None` for a push arc without a return state).
pub trait Frames<P>: Default {
    /// Pushes a frame; `false` when the stack is full (which generated code rules out: push arcs
    /// nest as deep as the longest chain of networks pushing networks, and cycles are rejected).
    fn push(&mut self, frame: Option<P>) -> bool;
    /// Pops the innermost frame.
    fn pop(&mut self) -> Option<Option<P>>;
    /// Whether no frame is on the stack (the run is in its main network).
    fn is_empty(&self) -> bool;
    /// The frames, outermost first (to save a durable run's position).
    fn to_vec(&self) -> Vec<Option<P>> {
        Vec::new()
    }
}

/// The frames of a machine without push arcs: always empty, and free.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFrames;

impl<P> Frames<P> for NoFrames {
    #[inline(always)]
    fn push(&mut self, _frame: Option<P>) -> bool {
        false
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<Option<P>> {
        None
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        true
    }
}

/// A fixed-capacity stack of push-arc return frames: the depth is known when generating, so a run
/// never allocates for it.
#[derive(Clone, Copy, Debug)]
pub struct ReturnStack<P: Copy, const N: usize> {
    items: [Option<P>; N],
    len: usize,
}

impl<P: Copy, const N: usize> ReturnStack<P, N> {
    /// An empty stack.
    pub const fn new() -> Self {
        ReturnStack {
            items: [None; N],
            len: 0,
        }
    }

    /// Number of frames.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no frame is on the stack.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<P: Copy, const N: usize> Default for ReturnStack<P, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Copy, const N: usize> Frames<P> for ReturnStack<P, N> {
    #[inline]
    fn push(&mut self, frame: Option<P>) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = frame;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<Option<P>> {
        let i = self.len.checked_sub(1)?;
        self.len = i;
        self.items.get_mut(i).map(Option::take)
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn to_vec(&self) -> Vec<Option<P>> {
        self.items.iter().take(self.len).copied().collect()
    }
}
