//! Compensation: the `compensate` table, one arm per state with `compensate: undo_fn`, running
//! the function in the state's data mode under the state's `retry` (not its breaker or rate
//! limit: an undo must not wait for, or be refused by, what guards the service it undoes).
//! Machines without compensations get no table, and `COMPENSATES` stays `false`.

use super::Gen;
use crate::ir::{self, StateRef};
use proc_macro2::TokenStream;
use quote::quote;

impl Gen<'_> {
    /// The body of `compensate`, when a state has a compensation.
    pub(super) fn compensate_table(&self, all: &[(StateRef, &ir::State)]) -> Option<TokenStream> {
        let rt = &self.rt;
        let arms: Vec<TokenStream> = all
            .iter()
            .filter_map(|(r, s)| {
                let call = s.compensate.as_ref()?;
                let body = self.transaction(*r, s.data_mode, &[call], None, None);
                let retry_only = ir::Resilience {
                    retry: s.resilience.retry.clone(),
                    ..ir::Resilience::default()
                };
                let body = self.guarded(&retry_only, body);
                let p = self.pos(*r);
                Some(quote!(#p => #body,))
            })
            .collect();
        if arms.is_empty() {
            return None;
        }
        let default = (arms.len() < all.len()).then(|| quote!(_ => #rt::Ok(()),));
        Some(quote!(
            match at {
                #(#arms)*
                #default
            }
        ))
    }
}
