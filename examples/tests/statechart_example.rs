//! The statechart example (`examples/statechart.rs`) run as a user runs it: what it prints for
//! each event is the order the deck's actions and the `on_transition` hook ran in (exit actions
//! innermost first, then the arc's transform, then the superstate's entry, the hook, the target's
//! entry), and each rejection with its reason.

mod common;

use std::process::Command;

/// The example's output, as blocks: each event's line with the lines it printed under it.
fn blocks() -> Vec<Vec<String>> {
    let output = Command::new(common::example_binary("statechart")).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for line in stdout.lines().filter(|l| !l.is_empty()) {
        match blocks.last_mut() {
            Some(block) if line.starts_with(' ') => block.push(line.trim().to_owned()),
            _ => blocks.push(vec![line.to_owned()]),
        }
    }
    blocks
}

#[test]
fn the_statechart_example_prints_exit_and_entry_actions_in_order() {
    let expected: &[&[&str]] = &[
        &[
            "play",
            "rejected in empty: the state has no arc for it (the play event is handed back)",
        ],
        // Into the superstate: the arc's transform, then `loaded`'s entry, then the hook.
        &[
            "cd_detected (12)",
            "store_cd_info (12 tracks)",
            "spin_up (entry of loaded)",
            "transition empty -> stopped",
            "-> stopped",
        ],
        // The internal arc: its transform and the hook (from == to), no exit or entry action.
        &[
            "stop",
            "stopped_again (internal arc)",
            "transition stopped -> stopped",
            "-> stopped",
        ],
        // Within `loaded`: the target's entry action after the hook, the source's exit first.
        &[
            "play",
            "transition stopped -> playing",
            "start_playback (entry of playing)",
            "-> playing",
        ],
        &[
            "pause",
            "stop_playback (exit of playing)",
            "pause_playback",
            "transition playing -> paused",
            "-> paused",
        ],
        &[
            "end_pause",
            "transition paused -> playing",
            "start_playback (entry of playing)",
            "-> playing",
        ],
        // Bubbled up to `loaded`'s `stop`, which stays inside it: no spin_down.
        &[
            "stop",
            "stop_playback (exit of playing)",
            "transition playing -> stopped",
            "-> stopped",
        ],
        // Out of the superstate: its exit action, then the arc's transform.
        &[
            "open_close",
            "spin_down (exit of loaded)",
            "open_drawer",
            "transition stopped -> open",
            "-> open",
        ],
        &[
            "pause",
            "rejected in open: the state has no arc for it (the pause event is handed back)",
        ],
        &["open_close", "close_drawer", "transition open -> empty", "-> empty"],
        &["tracks 12, plays 2, spins 2"],
        // `start_in` ran nothing; leaving both levels: the state's exit, then the superstate's.
        &["start in playing"],
        &[
            "open_close",
            "stop_playback (exit of playing)",
            "spin_down (exit of loaded)",
            "open_drawer",
            "transition playing -> open",
            "-> open",
        ],
    ];
    let blocks = blocks();
    for (i, (got, want)) in blocks.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "block {i}");
    }
    assert_eq!(blocks.len(), expected.len(), "{blocks:#?}");
}
