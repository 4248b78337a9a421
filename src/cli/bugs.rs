//! `parliament bugs`: the seeded bugs, each with the property it breaks.

use parliament::synod::Bug;
use std::process::ExitCode;

/// Prints the seeded bugs of both protocols, as a table or (`json`) as one JSON array.
pub fn run(json: bool) -> ExitCode {
    let infos: Vec<_> = Bug::ALL.iter().map(|b| b.info()).collect();
    let multi: Vec<_> = parliament::parliament::Bug::ALL
        .iter()
        .map(|b| b.info())
        .collect();
    if json {
        let mut all = Vec::new();
        for (protocol, v) in [
            ("synod", serde_json::to_value(&infos)),
            ("parliament", serde_json::to_value(&multi)),
        ] {
            for mut i in v
                .expect("serializes")
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                i["protocol"] = protocol.into();
                all.push(i);
            }
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("serializes")
        );
    } else {
        for i in infos {
            println!("{:<20} breaks {}", i.name, i.breaks);
            println!("{:<20} {}", "", i.changes);
            println!("{:<20} ({})", "", i.stands_for);
            println!(
                "{:<20} found by: parliament check synod {} --bug {}",
                "",
                i.flags.join(" "),
                i.name
            );
        }
        println!();
        println!("parliament (check parliament --bug NAME):");
        let w = multi.iter().map(|i| i.name.len()).max().unwrap_or(0);
        for i in multi {
            println!("{:<w$} breaks {}", i.name, i.breaks);
            println!("{:<w$} {}", "", i.changes);
            println!("{:<w$} ({})", "", i.stands_for);
            let flags = i.flags.iter().map(|f| format!("{f} ")).collect::<String>();
            println!(
                "{:<w$} found by: parliament check parliament {flags}--bug {}",
                "", i.name
            );
        }
    }
    ExitCode::SUCCESS
}
