//! `${NAME}` in a resource's text settings: replaced by environment variable `NAME` when the
//! resource opens, so that `base_url: "${API_URL}/v1"` or `path: "${DATA_DIR}/orders.db"` work
//! as users of the reference framework expect. `$${` stands for a literal `${`; a `$` not
//! followed by `{` is kept as it is. The compiler checks the syntax (`fsm::resource_config`).

use super::ResourceError;
use std::borrow::Cow;
use std::cell::RefCell;

/// `text` with every `${NAME}` replaced by the value of environment variable `NAME`.
///
/// ```
/// use fsm_runtime::resources::expand_env;
/// // cargo sets CARGO_PKG_NAME for the programs it runs.
/// assert_eq!(expand_env("path", "/data/${CARGO_PKG_NAME}.db")?, "/data/fsm-runtime.db");
/// assert_eq!(expand_env("url", "a $${literal}")?, "a ${literal}");
/// assert_eq!(
///     expand_env("url", "${FSM_DOC_UNSET}").unwrap_err().to_string(),
///     "environment variable `FSM_DOC_UNSET` is not set"
/// );
/// # Ok::<(), fsm_runtime::resources::ResourceError>(())
/// ```
///
/// # Errors
///
/// [`ResourceError::Env`] naming the variable when it is not set (or not Unicode);
/// [`ResourceError::Config`] naming the setting when a `${` is not closed or holds no variable
/// name (letters, digits and `_`, not starting with a digit).
pub fn expand_env<'a>(key: &'static str, text: &'a str) -> Result<Cow<'a, str>, ResourceError> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${`: a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(close) = after.find('}') else {
            return Err(ResourceError::Config {
                key,
                reason: format!("`${{` without a closing `}}` in `{text}`"),
            });
        };
        let name = &after[..close];
        if !is_var_name(name) {
            return Err(ResourceError::Config {
                key,
                reason: format!("`${{{name}}}` is not an environment variable name (in `{text}`)"),
            });
        }
        let value = var(name)?;
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

thread_local! {
    /// The variables [`with_vars`] gives the code it runs on this thread.
    static SCOPED: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `open` (typically a machine's `Resources::open()`) with `vars` as environment variables
/// that take precedence over the process's, on this thread only: for `${NAME}` in settings,
/// `url_env` and `api_key_env`. A program that learns a setting at run time (the port of a server
/// it just started, a password from a vault) hands it in here instead of changing the process's
/// environment, which is unsound while other threads may read it (`std::env::set_var`).
/// Nested calls see the variables of every enclosing call, the innermost first.
///
/// ```
/// use fsm_runtime::resources::{expand_env, with_vars};
/// let url = with_vars([("API_URL", "http://127.0.0.1:8080")], || expand_env("base_url", "${API_URL}/v1"));
/// assert_eq!(url?, "http://127.0.0.1:8080/v1");
/// // Outside the call, the variable is not set.
/// assert!(expand_env("base_url", "${API_URL}/v1").is_err());
/// # Ok::<(), fsm_runtime::resources::ResourceError>(())
/// ```
pub fn with_vars<K, V, R>(vars: impl IntoIterator<Item = (K, V)>, open: impl FnOnce() -> R) -> R
where
    K: Into<String>,
    V: Into<String>,
{
    /// Takes the call's variables off again however `open` ends (a panic included).
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.borrow_mut().truncate(self.0));
        }
    }
    let depth = SCOPED.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len();
        s.extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        depth
    });
    let _restore = Restore(depth);
    open()
}

/// The value of variable `name`: the innermost [`with_vars`]'s on this thread, else the
/// process's.
pub(crate) fn var(name: &str) -> Result<String, ResourceError> {
    let scoped = SCOPED.with(|s| s.borrow().iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
    match scoped {
        Some(value) => Ok(value),
        None => std::env::var(name).map_err(|_| ResourceError::Env { var: name.to_owned() }),
    }
}

/// Letters, digits and `_`, not starting with a digit.
fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_refuses() {
        // cargo sets CARGO_PKG_NAME for the tests it runs.
        assert_eq!(
            expand_env("base_url", "https://${CARGO_PKG_NAME}.example/v1")
                .ok()
                .as_deref(),
            Some(concat!("https://", env!("CARGO_PKG_NAME"), ".example/v1"))
        );
        assert!(matches!(
            expand_env("base_url", "plain $x"),
            Ok(Cow::Borrowed("plain $x"))
        ));
        assert_eq!(expand_env("base_url", "$${X}").ok().as_deref(), Some("${X}"));
        let unset = expand_env("base_url", "${FSM_ENV_TEST_UNSET}/v1").unwrap_err();
        assert!(matches!(&unset, ResourceError::Env { var } if var == "FSM_ENV_TEST_UNSET"));
        for bad in ["${", "${x", "${}", "${1X}", "${A-B}"] {
            let error = expand_env("base_url", bad).unwrap_err();
            assert!(matches!(error, ResourceError::Config { key: "base_url", .. }), "{bad}");
        }
    }

    /// `dir: "${VAR}/out"` was used as the literal text `${VAR}/out`.
    #[test]
    fn a_files_resource_opens_the_directory_the_variable_names() {
        use crate::resources::{Files, FilesConfig, Resource};
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("${CARGO_PKG_NAME}");
        let files = Files::from_config(&FilesConfig::new(&dir).create(true));
        assert!(files.is_ok(), "{files:?}");
        assert!(tmp.path().join(env!("CARGO_PKG_NAME")).is_dir());
        assert!(!dir.exists(), "no directory named `${{CARGO_PKG_NAME}}`");
        let unset = Files::from_config(&FilesConfig::new("${FSM_ENV_TEST_NOT_SET}/out").create(true));
        assert_eq!(
            unset.map(drop).map_err(|e| e.to_string()),
            Err("environment variable `FSM_ENV_TEST_NOT_SET` is not set".to_owned())
        );
    }
}
