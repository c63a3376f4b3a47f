//! Health checks: [`Health`] of one handle, [`HealthError`] of a machine's resources, and
//! [`ResourceSet`], what a long-running pipeline watches.

use super::ResourceError;
use std::fmt;
use std::time::Duration;

/// A handle that can tell whether its resource is usable right now. Every handle implements it
/// (and has the same `health` method of its own):
///
/// | handle | healthy when |
/// |---|---|
/// | [`Sqlite`](super::Sqlite) | the database's schema can be read (a locked or corrupt file fails) |
/// | [`Postgres`](super::Postgres) | `SELECT 1` runs on a connection of the pool (a closed connection is opened again first) |
/// | [`Files`](super::Files) | the directory exists and a file can be created in it |
/// | [`Http`](super::Http), [`Llm`](super::Llm) | `GET health_path` answers below 400, or without `health_path`, the server accepts a TCP connection |
pub trait Health: Send + Sync {
    /// `Ok` when the resource is usable, else why not.
    fn health(&self) -> Result<(), ResourceError>;
}

/// The unhealthy resources of a machine: every one that failed its check, with its name.
#[derive(Debug, Default)]
pub struct HealthError {
    unhealthy: Vec<(&'static str, ResourceError)>,
}

impl HealthError {
    /// Nothing unhealthy yet.
    pub fn new() -> Self {
        HealthError::default()
    }

    /// Records the check of resource `name`, if it failed.
    pub fn check(&mut self, name: &'static str, checked: Result<(), ResourceError>) {
        if let Err(e) = checked {
            self.unhealthy.push((name, e));
        }
    }

    /// The unhealthy resources (name as declared, and why), in the order they were checked.
    pub fn unhealthy(&self) -> &[(&'static str, ResourceError)] {
        &self.unhealthy
    }

    /// Whether nothing is unhealthy.
    pub fn is_empty(&self) -> bool {
        self.unhealthy.is_empty()
    }

    /// `Ok` when nothing is unhealthy, else `Err(self)`.
    pub fn into_result(self) -> Result<(), HealthError> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unhealthy.as_slice() {
            [] => f.write_str("no resource is unhealthy"),
            [(name, e)] => write!(f, "resource `{name}` is unhealthy: {e}"),
            all => {
                write!(f, "{} resources are unhealthy:", all.len())?;
                for (name, e) in all {
                    write!(f, "\n  `{name}`: {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for HealthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.unhealthy
            .first()
            .map(|(_, e)| e as &(dyn std::error::Error + 'static))
    }
}

/// The resources of a machine as a whole: what the generated `<Machine>Resources` implements,
/// and what [`Pipeline::watch_health`](crate::stream::Pipeline::watch_health) checks during a
/// long run.
pub trait ResourceSet: Sync {
    /// Checks every resource; fails with all those that are unhealthy.
    fn health(&self) -> Result<(), HealthError>;

    /// The resources that declare `health_check_interval`, each with its interval, in declaration
    /// order.
    fn watched(&self) -> Vec<Watched<'_>>;
}

/// A resource to check at an interval.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Watched<'a> {
    /// The resource's name, as declared.
    pub name: &'static str,
    /// How often to check it.
    pub interval: Duration,
    /// Its handle.
    pub handle: &'a dyn Health,
}

impl<'a> Watched<'a> {
    /// Resource `name`, checked every `interval`.
    pub fn new(name: &'static str, interval: Duration, handle: &'a dyn Health) -> Self {
        Watched { name, interval, handle }
    }
}

impl fmt::Debug for Watched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}
