//! [`Files`]: a directory, and relative paths in it that cannot leave it.

use super::{FilesConfig, Health, Resource, ResourceError};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A directory that state functions read and write files in, by paths relative to it.
///
/// Every path is checked before use: an absolute path, a `..` component, or a symbolic link
/// that resolves outside the directory is refused with [`ResourceError::PathEscapes`], so a
/// file name taken from a record cannot reach the rest of the file system.
///
/// `write` replaces a file atomically (a temporary file renamed over it), so a reader never sees
/// half a file; `append` writes each call's bytes in one piece, serialised between the clones of
/// the handle, so lines appended by parallel workers do not interleave.
///
/// ```
/// # fn main() -> Result<(), fsm_runtime::resources::ResourceError> {
/// use fsm_runtime::resources::{Files, FilesConfig, Resource};
/// # let tmp = std::env::temp_dir().join(format!("fsm-files-doc-{}", std::process::id()));
/// let files = Files::from_config(&FilesConfig::new(&tmp).create(true))?;
/// files.write("out/report.txt", "ok\n")?;
/// files.append("out/report.txt", "still ok\n")?;
/// assert_eq!(files.read_to_string("out/report.txt")?, "ok\nstill ok\n");
/// assert!(files.read("../etc/passwd").is_err());
/// # std::fs::remove_dir_all(&tmp).ok();
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Files {
    dir: Arc<Path>,
    appending: Arc<Mutex<()>>,
}

impl Resource for Files {
    type Config = FilesConfig;

    fn from_config(config: &FilesConfig) -> Result<Self, ResourceError> {
        if config.dir.as_os_str().is_empty() {
            return Err(ResourceError::Config {
                key: "dir",
                reason: "is empty".into(),
            });
        }
        let dir = match config.dir.to_str() {
            Some(text) => std::path::PathBuf::from(super::expand_env("dir", text)?.as_ref()),
            None => config.dir.clone(),
        };
        if config.create {
            std::fs::create_dir_all(&dir).map_err(|source| ResourceError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        Files::open(&dir)
    }
}

impl Files {
    /// The existing directory `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, ResourceError> {
        let dir = dir.as_ref();
        let io = |source| ResourceError::Io {
            path: dir.to_owned(),
            source,
        };
        let real = dir.canonicalize().map_err(io)?;
        if !real.is_dir() {
            return Err(ResourceError::Config {
                key: "dir",
                reason: format!("`{}` is not a directory", dir.display()),
            });
        }
        Ok(Files {
            dir: real.into(),
            appending: Arc::default(),
        })
    }

    /// The directory (canonical: absolute, links resolved).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The full path of `relative`, once checked that it stays inside the directory.
    pub fn path(&self, relative: impl AsRef<Path>) -> Result<PathBuf, ResourceError> {
        let relative = relative.as_ref();
        let escapes = || ResourceError::PathEscapes {
            path: relative.to_owned(),
        };
        let mut full = self.dir.to_path_buf();
        let mut named = false;
        for part in relative.components() {
            match part {
                Component::Normal(name) => {
                    full.push(name);
                    named = true;
                }
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(escapes()),
            }
        }
        if !named {
            return Err(escapes());
        }
        // A link may point outside: what exists of the path must resolve inside the directory.
        let mut probe = full.as_path();
        loop {
            if let Ok(real) = probe.canonicalize() {
                if !real.starts_with(&*self.dir) {
                    return Err(escapes());
                }
                break;
            }
            match probe.parent() {
                Some(parent) if parent.starts_with(&*self.dir) => probe = parent,
                _ => break,
            }
        }
        Ok(full)
    }

    /// The bytes of a file.
    pub fn read(&self, relative: impl AsRef<Path>) -> Result<Vec<u8>, ResourceError> {
        let path = self.path(relative)?;
        std::fs::read(&path).map_err(|source| ResourceError::Io { path, source })
    }

    /// The text of a file (UTF-8).
    pub fn read_to_string(&self, relative: impl AsRef<Path>) -> Result<String, ResourceError> {
        let path = self.path(relative)?;
        std::fs::read_to_string(&path).map_err(|source| ResourceError::Io { path, source })
    }

    /// Whether the file (or directory) exists.
    pub fn exists(&self, relative: impl AsRef<Path>) -> Result<bool, ResourceError> {
        let path = self.path(relative)?;
        path.try_exists().map_err(|source| ResourceError::Io { path, source })
    }

    /// Replaces the file's contents (creating it and its parent directories), atomically.
    pub fn write(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<(), ResourceError> {
        static UNIQUE: AtomicU64 = AtomicU64::new(0);
        let path = self.path(relative)?;
        self.parents(&path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::write(&tmp, contents.as_ref()).and_then(|()| std::fs::rename(&tmp, &path));
        written.map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            ResourceError::Io { path, source }
        })
    }

    /// Appends to the file (creating it and its parent directories).
    pub fn append(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<(), ResourceError> {
        let path = self.path(relative)?;
        self.parents(&path)?;
        let _turn = self.appending.lock().unwrap_or_else(PoisonError::into_inner);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(contents.as_ref()))
            .map_err(|source| ResourceError::Io { path, source })
    }

    /// Removes a file.
    pub fn remove(&self, relative: impl AsRef<Path>) -> Result<(), ResourceError> {
        let path = self.path(relative)?;
        std::fs::remove_file(&path).map_err(|source| ResourceError::Io { path, source })
    }

    /// Whether the directory still exists and a file can be created in it (a file named
    /// `.fsm-health.*` is created and removed).
    pub fn health(&self) -> Result<(), ResourceError> {
        static PROBE: AtomicU64 = AtomicU64::new(0);
        let meta = std::fs::metadata(&*self.dir).map_err(|source| ResourceError::Io {
            path: self.dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(ResourceError::Config {
                key: "dir",
                reason: format!("`{}` is no longer a directory", self.dir.display()),
            });
        }
        let probe = self.dir.join(format!(
            ".fsm-health.{}.{}",
            std::process::id(),
            PROBE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|file| {
                drop(file);
                std::fs::remove_file(&probe)
            })
            .map_err(|source| ResourceError::Io { path: probe, source })
    }

    fn parents(&self, path: &Path) -> Result<(), ResourceError> {
        match path.parent() {
            Some(parent) if parent != &*self.dir => {
                std::fs::create_dir_all(parent).map_err(|source| ResourceError::Io {
                    path: parent.to_owned(),
                    source,
                })
            }
            _ => Ok(()),
        }
    }
}

impl Health for Files {
    fn health(&self) -> Result<(), ResourceError> {
        Files::health(self)
    }
}
