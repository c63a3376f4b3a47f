//! The two front ends are one compiler: the same machine written with `fsm!` and in YAML
//! (`ui/file/machines/equivalence.yaml`) expands to the same tokens, byte for byte, apart from
//! the `include_bytes!` that makes cargo track the YAML file.

use proc_macro2::TokenStream;
use quote::quote;
use std::path::Path;

fn dsl() -> TokenStream {
    quote! {
        /// An order, from payment to shipping.
        machine Order {
            version: "2";
            data: u64;
            data_mode: direct;
            main_network: main;
            max_transitions: 50;
            events {
                /// The customer paid.
                Pay(u64),
                Ship,
                Cancel,
            }
            resources { db: sqlite { path: "orders.db", timeout_seconds: 2.5, retry_attempts: 2 } }
            functions {
                /// Notes the cancellation.
                log_cancel: infallible,
                charge,
            }
            /// The order's life.
            network main {
                /// Just received.
                start state new;
                state paid {
                    validate: check_amount;
                    transform: [charge, rust!(*data += 1)];
                    on_error: failed;
                    data_mode: copy;
                    resources: [db];
                }
                end state shipped;
                end state failed;
                /// Pay it.
                new -> paid on Pay if is_valid priority 2;
                new -> failed on Pay priority 1;
                new -> failed on Cancel do log_cancel;
                paid -> shipped on Ship if rust!(*data > 0) priority 1;
                paid -> push audit return shipped on Ship;
                paid -> failed on Cancel;
            }
            network audit {
                start state check;
                end state done;
                check -> done do audit;
            }
        }
    }
}

fn yaml_file() -> TokenStream {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui").join("file");
    fsm_codegen::expand::file(quote!("machines/equivalence.yaml"), Some(&dir))
}

/// The expansion as lines of items, for a readable failure.
fn lines(tokens: &TokenStream) -> String {
    tokens.to_string().replace(" ; ", " ;\n").replace("} ", "}\n")
}

#[test]
fn dsl_and_yaml_parse_to_the_same_checked_machine() {
    let parsed = fsm_codegen::syntax::dsl::parse(dsl());
    assert!(parsed.syntax_errors.is_empty() && parsed.diagnostics.is_empty());
    let machine = parsed.machine.unwrap();
    let (diagnostics, _) = fsm_codegen::expand::compile_ast(&machine);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
}

#[test]
fn dsl_and_yaml_expand_to_identical_code() {
    let from_dsl = fsm_codegen::expand::dsl(dsl(), &|_| None).to_string();
    let from_yaml = yaml_file();
    assert!(!from_dsl.contains("compile_error"), "{from_dsl}");
    assert!(!from_dsl.contains("deprecated"), "no warning expected: {from_dsl}");
    // The YAML expansion is the same code followed by the file tracking.
    let text = from_yaml.to_string();
    let Some(code) = text.strip_suffix(&tracking_suffix(&text)) else {
        panic!(
            "no include_bytes! at the end of the YAML expansion:\n{}",
            lines(&from_yaml)
        );
    };
    let code = code.trim_end();
    if code != from_dsl {
        let yaml_lines = lines(&code.parse().unwrap());
        let dsl_lines = lines(&from_dsl.parse().unwrap());
        for (i, (y, d)) in yaml_lines.lines().zip(dsl_lines.lines()).enumerate() {
            assert_eq!(y, d, "first difference at item line {i}");
        }
        panic!("expansions differ in length:\n--- yaml\n{yaml_lines}\n--- dsl\n{dsl_lines}");
    }
}

/// `const _ : & [u8] = :: core :: include_bytes ! ("...") ;` at the end of a `fsm_file!` expansion.
fn tracking_suffix(text: &str) -> String {
    let start = text
        .rfind("const _ : & [u8] = :: core :: include_bytes !")
        .unwrap_or(text.len());
    text[start..].to_owned()
}

#[test]
fn yaml_expansion_tracks_the_file_with_an_absolute_path() {
    let text = yaml_file().to_string();
    let tracked = tracking_suffix(&text);
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/file/machines/equivalence.yaml");
    assert!(
        tracked.contains(&format!("{:?}", expected.display().to_string())),
        "{tracked}"
    );
}

#[test]
fn a_mistake_gives_its_error_and_still_the_types() {
    let tokens = quote! {
        machine Order {
            data: u64;
            events { Pay(u64), Ship }
            start state new;
            state paid;
            end state shipped;
            new -> paid on Pay;
            paid -> shiped on Ship;
        }
    };
    let out = fsm_codegen::expand::dsl(tokens, &|_| None).to_string();
    assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    assert!(out.contains("fsm::unknown_state"), "{out}");
    // The skeleton: the repaired machine's types are there, so code using them still resolves.
    assert!(out.contains("enum OrderState"), "{out}");
    assert!(out.contains("enum OrderEvent"), "{out}");
}

/// The statechart fixture (`fixtures/statechart.yaml`) with `fsm!`: superstates with entry and
/// exit actions, state settings, an internal arc with a condition list, a wildcard and a list of
/// sources.
fn statechart_dsl() -> TokenStream {
    quote! {
        /// A CD deck that powers on, plays, breaks and is repaired.
        machine Deck {
            data: crate::support::Doc;
            data_mode: direct;
            events { power, play, pause, stop, louder, fault, repair, scrap }
            superstate powered { on_entry: power_on; on_exit: power_off; }
            superstate active { parent: powered; on_entry: spin_up; on_exit: spin_down; }
            start state off;
            state stopped { superstate: powered; on_entry: show_stopped; }
            state playing { superstate: active; on_entry: show_playing; on_exit: hide_playing; }
            state paused { superstate: active; }
            state broken { on_entry: show_broken; }
            end state scrapped;
            off -> stopped on power;
            powered -> off on power;
            stopped -> playing on play;
            paused -> playing on play;
            playing -> paused on pause;
            active -> stopped on stop;
            paused -> stopped on stop do rewind;
            powered -> powered on louder internal if [below_max, working] do turn_up;
            _ -> broken on fault;
            broken -> off on repair;
            [off, broken] -> scrapped on scrap;
        }
    }
}

/// `dsl` and the YAML file `dir/file` expand to the same code (the file's tracking aside); the
/// expansion, for further checks.
fn same_expansion(dsl: TokenStream, dir: &Path, file: &str) -> String {
    let from_dsl = fsm_codegen::expand::dsl(dsl, &|_| None).to_string();
    assert!(!from_dsl.contains("compile_error"), "{from_dsl}");
    let from_yaml = fsm_codegen::expand::file(quote!(#file), Some(dir)).to_string();
    let code = from_yaml
        .strip_suffix(&tracking_suffix(&from_yaml))
        .unwrap_or(&from_yaml)
        .trim_end();
    if code != from_dsl {
        let yaml_lines = lines(&code.parse().unwrap());
        let dsl_lines = lines(&from_dsl.parse().unwrap());
        for (i, (y, d)) in yaml_lines.lines().zip(dsl_lines.lines()).enumerate() {
            assert_eq!(y, d, "{file}: first difference at item line {i}");
        }
        panic!("{file}: expansions differ in length");
    }
    from_dsl
}

#[test]
fn the_statechart_fixture_expands_to_identical_code_from_both_front_ends() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    same_expansion(statechart_dsl(), &dir, "statechart.yaml");
}

/// The traffic light of docs/dsl.md § State data, as written there: the same code as
/// `examples/machines/traffic_light.yaml` (docs/format.md § State data).
fn traffic_light_dsl() -> TokenStream {
    quote! {
        /// A traffic light that turns green again once enough cars wait at red.
        machine TrafficLight {
            events { tick, car(u32), off }
            start state green;
            state yellow;
            state red(crate::light::Red) { on_entry: show_red; on_exit: report_red; }
            end state dark;
            green -> yellow on tick;
            yellow -> red on tick with turn_red;        // makes red's data
            red -> red on car internal do queue_car;    // keeps it, changes it
            red -> green on tick if queue_long_enough;  // reads it; leaving red drops it
            _ -> dark on off;
        }
    }
}

#[test]
fn state_data_in_the_dsl_and_in_yaml_expand_to_identical_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/machines");
    let code = same_expansion(traffic_light_dsl(), &dir, "traffic_light.yaml");
    assert!(code.contains("enum TrafficLightStateData"), "{code}");
}
