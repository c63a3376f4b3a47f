//! Records and function implementations shared by the tests of generated machines.
#![allow(dead_code)]

use fsm_runtime::{Context, FnError};

pub mod machines;

/// The record of the data-driven fixtures (serde for the stores of `reference` mode).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Doc {
    /// A number the functions work on.
    pub value: i64,
    /// Set by `mark_validity`.
    pub valid: bool,
    /// What ran, in order.
    pub log: Vec<String>,
    /// `fail_if_asked` and `fail_on_arc` fail when this is set.
    pub fail: bool,
}

impl Doc {
    /// A document with `value`.
    pub fn new(value: i64) -> Self {
        Doc {
            value,
            ..Doc::default()
        }
    }

    /// A document whose failing functions fail.
    pub fn failing(value: i64) -> Self {
        Doc {
            value,
            fail: true,
            ..Doc::default()
        }
    }
}

/// A record that counts its clones (per thread), to show when copy mode takes a snapshot.
#[derive(Debug, Default, PartialEq)]
pub struct Counted {
    /// A number the functions work on.
    pub value: i64,
    /// What ran, in order.
    pub log: Vec<String>,
    /// `risky` fails when this is set.
    pub fail: bool,
}

thread_local! {
    static CLONES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Counted {
    /// Clones of any `Counted` made on this thread so far.
    pub fn clones() -> usize {
        CLONES.with(std::cell::Cell::get)
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        CLONES.with(|c| c.set(c.get() + 1));
        Counted {
            value: self.value,
            log: self.log.clone(),
            fail: self.fail,
        }
    }
}

/// A payload without `Debug` (fixtures/attributes.yaml): the generated event enum's `Debug`
/// shows it as `..`.
#[derive(Clone, PartialEq)]
pub struct Ticket(pub u32);

/// The CD player's record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Player {
    /// The disc's title.
    pub disc: Option<String>,
    /// Position in seconds.
    pub position: u32,
    /// Length of the track in seconds.
    pub length: u32,
}

/// The order's record.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cart {
    /// Item prices in cents.
    pub items: Vec<u32>,
    /// Charged so far.
    pub charged: u32,
    /// The card is declined while this is set.
    pub declined: bool,
}

/// One implementation of every fixture's functions.
/// The data of the `red` state of the `state_data` fixture: made by the arc into `red`, dropped
/// when the light leaves it. Not `Clone`: state data need not be.
#[derive(Debug, PartialEq, Eq)]
pub struct RedPhase {
    /// The record's `value` when the light turned red.
    pub since: i64,
    /// Cars that arrived while it was red.
    pub cars: u32,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Fns;

impl Fns {
    pub fn mark_validity(&self, data: &mut Doc) -> Result<(), FnError> {
        data.valid = data.value >= 0;
        data.log.push("mark_validity".into());
        Ok(())
    }
    pub fn double(&self, data: &mut Doc) -> Result<(), FnError> {
        data.value *= 2;
        data.log.push("double".into());
        Ok(())
    }
    pub fn stamp(&self, data: &mut Doc, ctx: &Context<'_>) -> Result<(), FnError> {
        data.log.push(format!("stamp@{}", ctx.state()));
        Ok(())
    }
    pub fn add_one(&self, data: &mut Doc) -> Result<(), FnError> {
        data.value += 1;
        Ok(())
    }
    pub fn fail_if_asked(&self, data: &mut Doc) -> Result<(), FnError> {
        if data.fail {
            Err(FnError::new(format!("asked to fail at {}", data.value)))
        } else {
            Ok(())
        }
    }
}
