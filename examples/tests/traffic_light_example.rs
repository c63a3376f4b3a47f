//! The traffic light example (`examples/traffic_light.rs`) run as a user runs it: the data of
//! `red` is made by the arc into it, read by `red`'s entry action, changed by the internal arc,
//! read by the condition that lets the light turn green, shown in the position, and dropped when
//! the light leaves `red`.

mod common;

use std::process::Command;

#[test]
fn the_traffic_light_example_keeps_its_red_phase_data_while_red() {
    let output = Command::new(common::example_binary("traffic_light")).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // How long the light has been red depends on the machine: cut it off, and check it is a
    // duration.
    let lines: Vec<String> = stdout
        .lines()
        .map(|line| match line.split_once(", for ") {
            Some((head, elapsed)) => {
                assert!(elapsed.ends_with('s'), "{line}");
                format!("{head}, for ..")
            }
            None => line.to_owned(),
        })
        .collect();
    let expected = [
        "tick",
        "  now yellow",
        "  position: yellow (no data)",
        "tick",
        "    red: stop (queued 0)",
        "  now red",
        "  position: red, 0 queued, for ..",
        "car",
        "    car 7 waits (1 queued)",
        "  now red",
        "  position: red, 1 queued, for ..",
        "tick",
        "  not taken in red: the condition of every arc for it said no",
        "  position: red, 1 queued, for ..",
        "car",
        "    car 8 waits (2 queued)",
        "  now red",
        "  position: red, 2 queued, for ..",
        "tick",
        "    red held 2 cars",
        "  now green",
        "  position: green (no data)",
        "tick",
        "  now yellow",
        "  position: yellow (no data)",
        "off",
        "  finished in dark",
        "  position: dark (no data)",
    ];
    assert_eq!(lines, expected);
}
