//! The LLM workflow example (`examples/llm_workflow.rs`) run as a user runs it, small: against
//! the model server it starts, every ticket is written or dead-lettered (`read = written +
//! dead-lettered`), the malformed extractions were asked again with the parse error (the server
//! counts the prompts that carry it), the ticket whose answers never parse is dead-lettered after
//! its retries, and the tokens in the summary are the server's.

mod common;

use std::process::Command;

#[test]
fn the_llm_workflow_example_balances_and_counts_the_tokens_the_server_reported() {
    let output = Command::new(common::example_binary("llm_workflow"))
        .args([
            "--records",
            "30",
            "--concurrency",
            "4",
            "--workers",
            "2",
            "--latency-ms",
            "2",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |start: &str| {
        stdout
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line `{start}` in:\n{stdout}"))
            .to_owned()
    };
    // 30 tickets: ticket 25 never gets JSON; 5, 10, 15, 20, 30 get a malformed first answer.
    assert_eq!(
        line("check:"),
        "check: read 30 = written 29 + dead-lettered 1 + dropped 0: ok"
    );
    let written: Vec<String> = line("written").split_whitespace().map(str::to_owned).collect();
    assert_eq!(written[..2], ["written", "29"], "{stdout}");
    assert_eq!(
        line("extractions asked again"),
        "extractions asked again after malformed JSON: 5 tickets; dead-lettered after 3 attempts: 1"
    );
    assert!(line("tokens:").contains(": equal;"), "{stdout}");
    assert!(line("tokens ").ends_with("completion)"), "{stdout}");
    // 30 × 3 calls, 5 second extractions, ticket 25's classification and 3 extractions; 7 prompts with
    // the error.
    assert_eq!(
        line("server:"),
        "server: 96 requests, 8 malformed answers sent, 7 retry prompts carrying the parse error"
    );
    assert!(line("dead letter: ticket Some(25)").contains("not the expected JSON after 3 attempts"));
}
