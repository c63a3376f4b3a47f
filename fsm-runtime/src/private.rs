//! Support for generated code, reached as `::fsm_runtime::__private::*`. Not public API.

use crate::core::FnError;
use std::fmt;

mod store;
pub use store::{StoreSlot, store_settle, store_snapshot};

/// The prelude names generated code uses, as `__fsm::Ok`: short, and immune to a user's module
/// that shadows `Ok` or `Some`.
pub use ::core::option::Option::{self, None, Some};
pub use ::core::result::Result::{self, Err, Ok};

/// What an inline `rust:` transform may evaluate to: `()` or `Result<(), E>` with `E: Into<FnError>`.
pub trait IntoFnResult {
    /// Converts to the result of a state function.
    fn into_fn_result(self) -> Result<(), FnError>;
}

impl IntoFnResult for () {
    #[inline]
    fn into_fn_result(self) -> Result<(), FnError> {
        Ok(())
    }
}

impl<E: Into<FnError>> IntoFnResult for Result<(), E> {
    #[inline]
    fn into_fn_result(self) -> Result<(), FnError> {
        self.map_err(Into::into)
    }
}

/// The function name a state's failure carries when its functions found no data for it.
pub const STATE_DATA_FUNCTION: &str = "<state data>";

/// A function of a state with data found none: the run was placed in the state with
/// `start_in` (which has no data to give it) rather than `start_in_with`. The state's failure.
#[cold]
#[inline(never)]
pub fn no_state_data(state: &'static str) -> (&'static str, FnError) {
    (
        STATE_DATA_FUNCTION,
        FnError::new(format!(
            "state `{state}` has no data: a run placed there by `start_in` has none; use `start_in_with`"
        )),
    )
}

/// Whether fsm-runtime was built with the `tracing` feature: generated code then opens a span per
/// transition. A constant, so the check folds away when the feature is off.
pub const TRACING: bool = cfg!(feature = "tracing");

/// Whether transitions should open spans: the `tracing` feature is on and a subscriber listens
/// at DEBUG. Checked once per run, so runs nobody traces keep the fast path.
#[inline]
pub fn tracing_enabled() -> bool {
    #[cfg(feature = "tracing")]
    {
        tracing::enabled!(tracing::Level::DEBUG)
    }
    #[cfg(not(feature = "tracing"))]
    {
        false
    }
}

/// The span of one transition (entering a state and running its functions); a no-op without the
/// `tracing` feature.
#[must_use]
pub struct TransitionSpan {
    #[cfg(feature = "tracing")]
    _span: tracing::span::EnteredSpan,
}

/// Opens the span of a transition into `state`: `fsm.transition{machine, network, state}` at level
/// DEBUG.
#[inline]
#[allow(unused_variables)]
pub fn transition_span(machine: &'static str, network: &'static str, state: &'static str) -> TransitionSpan {
    TransitionSpan {
        #[cfg(feature = "tracing")]
        _span: tracing::debug_span!("fsm.transition", machine, network, state).entered(),
    }
}

/// Opens the span of a compensation of `state`: `fsm.compensate{machine, network, state}` at
/// level DEBUG; a no-op without the `tracing` feature.
#[inline]
#[allow(unused_variables)]
pub fn compensation_span(machine: &'static str, network: &'static str, state: &'static str) -> TransitionSpan {
    TransitionSpan {
        #[cfg(feature = "tracing")]
        _span: tracing::debug_span!("fsm.compensate", machine, network, state).entered(),
    }
}

/// `entered`, the functions of a state of an async machine, inside the same span as
/// [`transition_span`] gives a synchronous run: entered each time the future is polled, so the span
/// never stays entered on a thread while the run waits.
#[inline]
#[allow(unused_variables)]
pub async fn in_transition_span<T>(
    machine: &'static str,
    network: &'static str,
    state: &'static str,
    entered: impl std::future::Future<Output = T>,
) -> T {
    #[cfg(feature = "tracing")]
    {
        use tracing::Instrument;
        entered
            .instrument(tracing::debug_span!("fsm.transition", machine, network, state))
            .await
    }
    #[cfg(not(feature = "tracing"))]
    entered.await
}

/// Implements `serde::Serialize`/`Deserialize` for a generated state or event-name type by its
/// YAML name (through `StateName::name` and `FromStr`) when fsm-runtime is built with the `serde`
/// feature, and expands to nothing otherwise: the generated code never depends on a feature of
/// the user's crate. `@serialize` and `@deserialize` implement one of the two (the other derived
/// by the user, through the machine's `attributes`).
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __fsm_impl_serde_by_name {
    ($ty:ty) => {
        $crate::__fsm_impl_serde_by_name!(@serialize $ty);
        $crate::__fsm_impl_serde_by_name!(@deserialize $ty);
    };
    (@serialize $ty:ty) => {
        impl $crate::__private::serde::Serialize for $ty {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::StateName::name(self))
            }
        }
    };
    (@deserialize $ty:ty) => {
        impl<'de> $crate::__private::serde::Deserialize<'de> for $ty {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                $crate::__private::deserialize_by_name(deserializer)
            }
        }
    };
}

/// Without the `serde` feature: nothing.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __fsm_impl_serde_by_name {
    ($($any:tt)*) => {};
}

pub use crate::__fsm_impl_serde_by_name as impl_serde_by_name;

/// Implements `StateName`, `Display` and `FromStr` (and, with the `serde` feature, serde by name)
/// for a generated enum of states or end states that has inherent `ALL` and `const fn name(self)`.
/// `$expected` says what a name must be, for [`UnknownName`](crate::core::UnknownName).
/// `serde(serialize, deserialize)` names the serde traits to implement by name, when the user
/// derives the others (default: both).
#[doc(hidden)]
#[macro_export]
macro_rules! __fsm_impl_names {
    ($ty:ident, $expected:expr) => {
        $crate::__fsm_impl_names!($ty, $expected, serde(serialize, deserialize));
    };
    ($ty:ident, $expected:expr, serde($($which:ident),*)) => {
        impl $crate::__private::StateName for $ty {
            fn name(&self) -> &'static str {
                $ty::name(*self)
            }
        }
        impl ::core::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.pad($ty::name(*self))
            }
        }
        impl ::core::str::FromStr for $ty {
            type Err = $crate::__private::UnknownName;
            fn from_str(s: &str) -> ::core::result::Result<Self, $crate::__private::UnknownName> {
                $crate::__private::parse_name(s, &$ty::ALL, $ty::name, $expected)
            }
        }
        $($crate::__private::impl_serde_by_name!(@$which $ty);)*
    };
}

pub use crate::__fsm_impl_names as impl_names;

/// A payload, for the `Debug` of a generated event enum: shown with its own `Debug` when it has
/// one, as `..` when not (so payload types need not implement `Debug`). Chosen by method
/// resolution on the concrete type (autoref specialisation): [`payload_debug!`] calls
/// `debug()` on `&Payload(..)`, which finds [`PayloadIsDebug`] (implemented for
/// `&Payload<T: Debug>`) before it finds [`PayloadIsOpaque`] (for any `Payload<T>`).
pub struct Payload<'a, T>(pub &'a T);

impl<T> Clone for Payload<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Payload<'_, T> {}

/// [`Payload`] of a type with `Debug`.
pub trait PayloadIsDebug<'a> {
    /// The payload, to show.
    fn debug(self) -> &'a dyn fmt::Debug;
}

impl<'a, T: fmt::Debug> PayloadIsDebug<'a> for &Payload<'a, T> {
    #[inline]
    fn debug(self) -> &'a dyn fmt::Debug {
        self.0
    }
}

/// [`Payload`] of any type.
pub trait PayloadIsOpaque<'a> {
    /// `..`, in place of the payload.
    fn debug(self) -> &'a dyn fmt::Debug;
}

impl<'a, T> PayloadIsOpaque<'a> for Payload<'a, T> {
    #[inline]
    fn debug(self) -> &'a dyn fmt::Debug {
        &Opaque
    }
}

/// Shown as `..`.
struct Opaque;

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

/// `&dyn Debug` of a payload (see [`Payload`]): its own `Debug`, or `..` for a type without.
/// A macro, so that the method is chosen where the payload's type is concrete.
#[doc(hidden)]
#[macro_export]
macro_rules! __fsm_payload_debug {
    ($payload:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{PayloadIsDebug as _, PayloadIsOpaque as _};
        (&$crate::__private::Payload($payload)).debug()
    }};
}

pub use crate::__fsm_payload_debug as payload_debug;

/// The item of `all` whose name is `s`.
pub fn parse_name<T: Copy>(
    s: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    expected: &'static str,
) -> Result<T, crate::core::UnknownName> {
    all.iter()
        .copied()
        .find(|x| name(*x) == s)
        .ok_or_else(|| crate::core::UnknownName {
            name: s.to_owned(),
            expected,
        })
}

#[cfg(feature = "serde")]
pub use serde;

/// Implements a machine's functions trait for `&T`, `Box<T>` and `Arc<T>` (`T` implementing it),
/// each method forwarding to `T`'s. Generated code lists the trait's methods once, by kind
/// (`transform`, `infallible` or `atomic` transform, `condition`, or `fallible` condition) and payload type, and rustc writes the three impls: spelled out
/// in the generated code, they tripled the trait's tokens and the macro's expansion time. Methods
/// whose signature is none of those (they take or make a state's data) are listed in full, in
/// braces after the hooks.
///
/// ```text
/// forward_fns!(OrderFns, Order, Context<'_>; [on_transition(from: OrderState, to: OrderState);]
///     transform reserve(Sku); infallible note(); condition in_stock(););
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __fsm_forward_fns {
    ($fns:ident, $data:ty, $ctx:ty; [$($hook:ident($($arg:ident: $arg_ty:ty),*);)*]
        $({$($sig:ident($($sig_arg:ident: $sig_ty:ty),*) -> $sig_ret:ty;)*})?
        $($kind:ident $name:ident($($payload:ty)?);)*) => {
        impl<'a, T: $fns + ?::core::marker::Sized> $fns for &'a T {
            $($crate::__fsm_forward_fns!(@hook $fns; $hook($($arg: $arg_ty),*));)*
            $($($crate::__fsm_forward_fns!(@sig $fns; $sig($($sig_arg: $sig_ty),*) -> $sig_ret);)*)?
            $($crate::__fsm_forward_fns!(@method ['a, T] $fns, $data, $ctx; $kind $name($($payload)?));)*
        }
        impl<T: $fns + ?::core::marker::Sized> $fns for ::std::boxed::Box<T> {
            $($crate::__fsm_forward_fns!(@hook $fns; $hook($($arg: $arg_ty),*));)*
            $($($crate::__fsm_forward_fns!(@sig $fns; $sig($($sig_arg: $sig_ty),*) -> $sig_ret);)*)?
            $($crate::__fsm_forward_fns!(@method [T] $fns, $data, $ctx; $kind $name($($payload)?));)*
        }
        impl<T: $fns + ?::core::marker::Sized> $fns for ::std::sync::Arc<T> {
            $($crate::__fsm_forward_fns!(@hook $fns; $hook($($arg: $arg_ty),*));)*
            $($($crate::__fsm_forward_fns!(@sig $fns; $sig($($sig_arg: $sig_ty),*) -> $sig_ret);)*)?
            $($crate::__fsm_forward_fns!(@method [T] $fns, $data, $ctx; $kind $name($($payload)?));)*
        }
    };
    // A method written out in full (the functions of a state with data, the functions making
    // a state's data): forwarded as it is.
    (@sig $fns:ident; $sig:ident($($arg:ident: $arg_ty:ty),*) -> $ret:ty) => {
        #[inline]
        fn $sig(&self, $($arg: $arg_ty),*) -> $ret {
            $fns::$sig(&**self, $($arg),*)
        }
    };
    // A hook (a provided method): forwarded, so that `&T` runs what `T` overrides.
    (@hook $fns:ident; $hook:ident($($arg:ident: $arg_ty:ty),*)) => {
        #[inline(always)]
        fn $hook(&self, $($arg: $arg_ty),*) {
            $fns::$hook(&**self, $($arg),*)
        }
    };
    // An atomic transform's change captures what `Self` does (`use<Self>` in the trait).
    (@method [$($cap:tt)*] $fns:ident, $data:ty, $ctx:ty; atomic $name:ident()) => {
        #[inline]
        fn $name(
            &self,
            data: &$data,
            ctx: &mut $ctx,
        ) -> ::core::result::Result<impl ::core::ops::FnOnce(&mut $data) + use<$($cap)*>, $crate::__private::FnError> {
            $fns::$name(&**self, data, ctx)
        }
    };
    (@method [$($cap:tt)*] $fns:ident, $data:ty, $ctx:ty; atomic $name:ident($payload:ty)) => {
        #[inline]
        fn $name(
            &self,
            data: &$data,
            payload: &$payload,
            ctx: &mut $ctx,
        ) -> ::core::result::Result<impl ::core::ops::FnOnce(&mut $data) + use<$($cap)*>, $crate::__private::FnError> {
            $fns::$name(&**self, data, payload, ctx)
        }
    };
    (@method [$($cap:tt)*] $($rest:tt)*) => {
        $crate::__fsm_forward_fns!(@method $($rest)*);
    };
    (@method $fns:ident, $data:ty, $ctx:ty; transform $name:ident()) => {
        #[inline]
        fn $name(
            &self,
            data: &mut $data,
            ctx: &mut $ctx,
        ) -> ::core::result::Result<(), $crate::__private::FnError> {
            $fns::$name(&**self, data, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; transform $name:ident($payload:ty)) => {
        #[inline]
        fn $name(
            &self,
            data: &mut $data,
            payload: &$payload,
            ctx: &mut $ctx,
        ) -> ::core::result::Result<(), $crate::__private::FnError> {
            $fns::$name(&**self, data, payload, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; async_transform $name:ident()) => {
        #[inline]
        fn $name(
            &self,
            data: &mut $data,
            ctx: &mut $ctx,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::__private::FnError>> + ::core::marker::Send {
            $fns::$name(&**self, data, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; async_transform $name:ident($payload:ty)) => {
        #[inline]
        fn $name(
            &self,
            data: &mut $data,
            payload: &$payload,
            ctx: &mut $ctx,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::__private::FnError>> + ::core::marker::Send {
            $fns::$name(&**self, data, payload, ctx)
        }
    };
    // A function of a state's `parallel:` list: reads the record, awaits, returns the change.
    (@method $fns:ident, $data:ty, $ctx:ty; parallel $name:ident()) => {
        #[inline]
        fn $name(
            &self,
            data: &$data,
            ctx: &mut $ctx,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<$crate::__private::Change<$data>, $crate::__private::FnError>,
        > + ::core::marker::Send {
            $fns::$name(&**self, data, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; async_infallible $name:ident()) => {
        #[inline]
        fn $name(&self, data: &mut $data, ctx: &mut $ctx) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
            $fns::$name(&**self, data, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; async_infallible $name:ident($payload:ty)) => {
        #[inline]
        fn $name(
            &self,
            data: &mut $data,
            payload: &$payload,
            ctx: &mut $ctx,
        ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
            $fns::$name(&**self, data, payload, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; infallible $name:ident()) => {
        #[inline]
        fn $name(&self, data: &mut $data, ctx: &mut $ctx) {
            $fns::$name(&**self, data, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; infallible $name:ident($payload:ty)) => {
        #[inline]
        fn $name(&self, data: &mut $data, payload: &$payload, ctx: &mut $ctx) {
            $fns::$name(&**self, data, payload, ctx)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; fallible $name:ident()) => {
        #[inline]
        fn $name(&self, data: &$data) -> ::core::result::Result<bool, $crate::FnError> {
            $fns::$name(&**self, data)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; fallible $name:ident($payload:ty)) => {
        #[inline]
        fn $name(&self, data: &$data, payload: &$payload) -> ::core::result::Result<bool, $crate::FnError> {
            $fns::$name(&**self, data, payload)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; condition $name:ident()) => {
        #[inline]
        fn $name(&self, data: &$data) -> bool {
            $fns::$name(&**self, data)
        }
    };
    (@method $fns:ident, $data:ty, $ctx:ty; condition $name:ident($payload:ty)) => {
        #[inline]
        fn $name(&self, data: &$data, payload: &$payload) -> bool {
            $fns::$name(&**self, data, payload)
        }
    };
}

pub use crate::__fsm_forward_fns as forward_fns;

/// Deserialises a name and parses it with `FromStr`.
#[cfg(feature = "serde")]
pub fn deserialize_by_name<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    struct NameVisitor<T>(std::marker::PhantomData<T>);
    impl<T> serde::de::Visitor<'_> for NameVisitor<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a state name")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }
    deserializer.deserialize_str(NameVisitor(std::marker::PhantomData))
}
