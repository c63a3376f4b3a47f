//! The resources of a machine that declares `resources:`: the `<Machine>Resources` struct (one
//! typed handle per resource, `open()` from the YAML settings), and the pieces the machine and
//! run types of [`rust`](super::rust) splice in to hold the struct and hand it to every function
//! through its `Context`. For a machine without resources every piece is empty, so its code is
//! what it was before resources existed.

use super::rust::{doc_attrs, ident};
use crate::ir::{Connection, Machine, Resource, ResourceKind, Retry, SettingValue};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

/// Tokens spliced into the machine and run types. All empty for a machine without resources.
pub(super) struct Held {
    /// `OrderResources`, when the machine has resources.
    pub ty: Option<Ident>,
    /// The machine's field: `resources: OrderResources,`.
    pub machine_field: TokenStream,
    /// The extra parameter of `Order::new`: `, resources: OrderResources`.
    pub new_param: TokenStream,
    /// Field initialiser in `Order::new` and `OrderRun::new`: `resources,`.
    pub init: TokenStream,
    /// `Order::resources()`.
    pub accessor: TokenStream,
    /// Type argument of the run `start` returns: `, &OrderResources`.
    pub borrowed_arg: TokenStream,
    /// Argument of `OrderRun::new` in `start`: `&self.resources,`.
    pub borrowed_value: TokenStream,
    /// Argument of `OrderRun::new` in `into_run`: `self.resources,`.
    pub owned_value: TokenStream,
    /// Generic parameter of the run type's declaration: `, R = OrderResources`.
    pub run_param_decl: TokenStream,
    /// Bound of the run's inherent impl: `, R: Borrow<OrderResources>`.
    pub run_bound: TokenStream,
}

impl Held {
    pub(super) fn new(m: &Machine) -> Self {
        let Some(ty) = struct_ident(m) else {
            return Held {
                ty: None,
                machine_field: quote!(),
                new_param: quote!(),
                init: quote!(),
                accessor: quote!(),
                borrowed_arg: quote!(),
                borrowed_value: quote!(),
                owned_value: quote!(),
                run_param_decl: quote!(),
                run_bound: quote!(),
            };
        };
        Held {
            machine_field: quote!(resources: #ty,),
            new_param: quote!(, resources: #ty),
            init: quote!(resources,),
            accessor: quote! {
                /// The resources, as the functions see them through `ctx.resources()`.
                pub fn resources(&self) -> &#ty {
                    &self.resources
                }
            },
            borrowed_arg: quote!(, &#ty),
            borrowed_value: quote!(&self.resources,),
            owned_value: quote!(self.resources,),
            run_param_decl: quote!(, R = #ty),
            run_bound: quote!(, R: ::core::borrow::Borrow<#ty>),
            ty: Some(ty),
        }
    }

    /// The context type functions receive: `Context<'_>`, or `Context<'_, OrderResources>`.
    pub(super) fn ctx_type(&self, rt: &impl quote::ToTokens) -> TokenStream {
        match &self.ty {
            None => quote!(#rt::Context<'_>),
            Some(ty) => quote!(#rt::Context<'_, #ty>),
        }
    }

    /// Builds the context of a function of `state` inside the run (`self` is the run).
    pub(super) fn ctx_new(&self, rt: &impl quote::ToTokens, machine: &str, network: &str, state: &str) -> TokenStream {
        match &self.ty {
            None => quote!(#rt::Context::new(#machine, #network, #state, __cx.error.as_deref())),
            Some(ty) => quote! {
                #rt::Context::with_resources(
                    #machine,
                    #network,
                    #state,
                    __cx.error.as_deref(),
                    <R as ::core::borrow::Borrow<#ty>>::borrow(&__cx.res),
                )
            },
        }
    }
}

fn struct_ident(m: &Machine) -> Option<Ident> {
    (!m.resources.is_empty()).then(|| ident(&format!("{}Resources", m.ident)))
}

/// The `<Machine>Resources` struct and its `open()`; nothing for a machine without resources.
pub(super) fn resources_struct(m: &Machine, rt: &TokenStream, machine: &Ident) -> TokenStream {
    let Some(ty) = struct_ident(m) else {
        return quote!();
    };
    let res = quote!(#rt::resources);
    let doc = doc_attrs(&format!(
        "The resources of machine `{}`: one handle per resource of its definition, which its \
         functions reach as `ctx.resources()`.\n\n\
         [`{ty}::open`] opens them all with the settings of the definition; or build the struct \
         from handles you opened yourself (every field is public), e.g. to point a test at a \
         temporary database. Then hand it to [`{machine}::new`]. Handles are cheap to clone \
         and shared by parallel runs.",
        m.name
    ));
    let fields = m.resources.iter().map(|r| {
        let name = ident(&r.ident);
        let handle = handle_type(r.kind, m.is_async());
        let mut text = r
            .description
            .clone()
            .unwrap_or_else(|| format!("Resource `{}`.", r.name));
        text.push_str(&format!("\n\n`kind: {}`{}", r.kind.as_str(), describe_settings(r)));
        let doc = doc_attrs(&text);
        quote!(#doc pub #name: #res::#handle,)
    });
    let opens = m.resources.iter().map(|r| {
        let name = ident(&r.ident);
        let yaml_name = &r.name;
        let handle = handle_type(r.kind, m.is_async());
        let config = config(r, &res);
        let retry = match r.retry {
            None => quote!(#res::Retry::NONE),
            Some(Retry { attempts, delay_ms }) => {
                let attempts = Literal::u32_unsuffixed(attempts);
                let delay_ms = Literal::u64_unsuffixed(delay_ms);
                quote!(#res::Retry::new(#attempts, ::core::time::Duration::from_millis(#delay_ms)))
            }
        };
        quote! {
            let #name = __failed.open::<#res::#handle>(#yaml_name, &#config, #retry);
        }
    });
    let checks = m.resources.iter().map(|r| {
        let name = ident(&r.ident);
        let yaml_name = &r.name;
        quote!(__unhealthy.check(#yaml_name, #res::Health::health(&self.#name));)
    });
    let watched: Vec<TokenStream> = m
        .resources
        .iter()
        .filter_map(|r| {
            let ms = Literal::u64_unsuffixed(r.health_check_interval_ms?);
            let name = ident(&r.ident);
            let yaml_name = &r.name;
            Some(quote!(#res::Watched::new(#yaml_name, ::core::time::Duration::from_millis(#ms), &self.#name)))
        })
        .collect();
    let watched = if watched.is_empty() {
        quote!(::std::vec::Vec::new())
    } else {
        quote!(::std::vec::Vec::from([#(#watched),*]))
    };
    let names: Vec<Ident> = m.resources.iter().map(|r| ident(&r.ident)).collect();
    let assemble = match names.as_slice() {
        [one] => quote! {
            match #one {
                ::core::option::Option::Some(#one) => ::core::result::Result::Ok(#ty { #one }),
                ::core::option::Option::None => ::core::result::Result::Err(__failed),
            }
        },
        all => quote! {
            match (#(#all,)*) {
                (#(::core::option::Option::Some(#all),)*) => ::core::result::Result::Ok(#ty { #(#all,)* }),
                _ => ::core::result::Result::Err(__failed),
            }
        },
    };
    quote! {
        #doc
        #[derive(Clone, Debug)]
        pub struct #ty {
            #(#fields)*
        }

        impl #ty {
            /// Opens every resource with the settings of the machine's definition (reading the
            /// environment variables they name now), retrying those that declare
            /// `retry_attempts` while they fail with a transient error. Fails with every
            /// resource that could not be opened, not only the first, each with its last error
            /// and number of attempts.
            pub fn open() -> ::core::result::Result<Self, #res::OpenError> {
                let mut __failed = #res::OpenError::new();
                #(#opens)*
                #assemble
            }

            /// Checks that every resource is usable now (a query, a probe file, a request of
            /// its `health_path` or a connection). Fails with every unhealthy resource.
            pub fn health(&self) -> ::core::result::Result<(), #res::HealthError> {
                let mut __unhealthy = #res::HealthError::new();
                #(#checks)*
                __unhealthy.into_result()
            }
        }

        impl #res::ResourceSet for #ty {
            fn health(&self) -> ::core::result::Result<(), #res::HealthError> {
                #ty::health(self)
            }

            fn watched(&self) -> ::std::vec::Vec<#res::Watched<'_>> {
                #watched
            }
        }
    }
}

/// The runtime's handle of a resource of `kind`: for a machine with async functions, the async
/// client where there is one (`AsyncHttp`, feature `http-async`; `AsyncLlm`, feature `llm-async`),
/// so its functions await calls instead of blocking; the others are the blocking handles.
fn handle_type(kind: ResourceKind, is_async: bool) -> Ident {
    ident(match kind {
        ResourceKind::Llm if is_async => "AsyncLlm",
        ResourceKind::Sqlite => "Sqlite",
        ResourceKind::Postgres => "Postgres",
        ResourceKind::File => "Files",
        ResourceKind::Http if is_async => "AsyncHttp",
        ResourceKind::Http => "Http",
        ResourceKind::Llm => "Llm",
    })
}

/// The runtime configuration value of a resource: its kind's constructor with the required
/// settings, then one builder call per optional setting given.
fn config(r: &Resource, res: &TokenStream) -> TokenStream {
    let (constructor, consumed): (TokenStream, &[&str]) = match &r.connection {
        Connection::Sqlite { path } => (quote!(#res::SqliteConfig::new(#path)), &["path"]),
        Connection::PostgresUrl { url } => (quote!(#res::PostgresConfig::url(#url)), &["url", "url_env"]),
        Connection::PostgresUrlEnv { var } => (quote!(#res::PostgresConfig::url_env(#var)), &["url", "url_env"]),
        Connection::File { dir } => (quote!(#res::FilesConfig::new(#dir)), &["dir"]),
        Connection::Http { base_url } => (quote!(#res::HttpConfig::new(#base_url)), &["base_url"]),
        Connection::Llm { base_url, model } => {
            (quote!(#res::LlmConfig::new(#base_url, #model)), &["base_url", "model"])
        }
    };
    let calls = r
        .settings
        .iter()
        .filter(|(key, _)| !consumed.contains(&key.as_str()))
        .map(|(key, value)| {
            let method = ident(key);
            match value {
                // `headers` is the only mapping setting: one builder call per header.
                SettingValue::Map(entries) => {
                    let calls = entries.iter().map(|(k, v)| quote!(.header(#k, #v)));
                    quote!(#(#calls)*)
                }
                SettingValue::Str(s) => quote!(.#method(#s)),
                SettingValue::Bool(b) => quote!(.#method(#b)),
                SettingValue::Int(i) => {
                    let i = Literal::u64_unsuffixed(*i);
                    quote!(.#method(#i))
                }
                SettingValue::Float(f) => {
                    let f = Literal::f64_unsuffixed(*f);
                    quote!(.#method(#f))
                }
            }
        });
    let transaction = r.transaction.map(|mode| {
        let variant = ident(match mode {
            crate::ast::TransactionMode::PerRecord => "PerRecord",
            crate::ast::TransactionMode::PerChunk => "PerChunk",
            crate::ast::TransactionMode::Manual => "Manual",
        });
        quote!(.transaction(#res::Transaction::#variant))
    });
    quote!(#constructor #(#calls)* #transaction)
}

/// `; path: orders.db, busy_timeout_ms: 100` for the docs of a field.
fn describe_settings(r: &Resource) -> String {
    let mut parts: Vec<String> = r
        .settings
        .iter()
        .map(|(key, value)| {
            let value = match value {
                SettingValue::Str(s) => s.clone(),
                SettingValue::Int(i) => i.to_string(),
                SettingValue::Float(f) => f.to_string(),
                SettingValue::Bool(b) => b.to_string(),
                SettingValue::Map(entries) => {
                    let names: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                    format!("{{{}}}", names.join(", "))
                }
            };
            format!("`{key}: {value}`")
        })
        .collect();
    let seconds = |ms: u64| (ms as f64 / 1000.0).to_string();
    if let Some(retry) = r.retry {
        parts.push(format!("`retry_attempts: {}`", retry.attempts));
        parts.push(format!("`retry_delay_seconds: {}`", seconds(retry.delay_ms)));
    }
    if let Some(ms) = r.health_check_interval_ms {
        parts.push(format!("`health_check_interval: {}`", seconds(ms)));
    }
    if let Some(mode) = r.transaction {
        parts.push(format!("`transaction: {}`", mode.as_str()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(", {}", parts.join(", "))
    }
}
