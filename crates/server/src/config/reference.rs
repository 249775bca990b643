//! The README's configuration table, generated from [`KEYS`] so that the
//! documentation says what the code does.

use super::{Flag, Initial, KEYS, Key};

/// The Markdown table of every key, as README.md carries it.
pub fn markdown_table() -> String {
    let mut table =
        String::from("| key | default | environment | flag | meaning |\n|---|---|---|---|---|\n");
    for key in KEYS {
        let cells = [
            code(key.name),
            default(key),
            key.env_summary(code),
            flag(key),
            key.description(),
        ];
        // A `|` inside a cell would end it early.
        let cells: Vec<_> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        table.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    table
}

fn code(text: &str) -> String {
    format!("`{text}`")
}

fn default(key: &Key) -> String {
    match key.default {
        Initial::Value(value) => code(value),
        Initial::Unset(instead) => instead.to_owned(),
    }
}

fn flag(key: &Key) -> String {
    match (key.long_flag(), key.flag) {
        (None, _) => "none".into(),
        (Some(long), Flag::Serve(_) | Flag::ServeOff) => format!("`--{long}` (`serve`)"),
        (Some(long), _) => code(&format!("--{long}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration_section(readme: &str) -> &str {
        let start = readme
            .find("\n## Configuration\n")
            .expect("README.md has a Configuration section");
        let section = &readme[start + 1..];
        &section[..section.find("\n## ").unwrap_or(section.len())]
    }

    #[test]
    fn the_readme_table_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md at the repository root");
        let section = configuration_section(&readme);
        let documented: String = section
            .lines()
            .filter(|line| line.starts_with('|'))
            .map(|line| format!("{line}\n"))
            .collect();
        let generated = markdown_table();
        assert_eq!(
            documented, generated,
            "README.md's configuration table is out of date; replace it with the output of \
             `cargo run -q -p idstore-server -- config-table`"
        );
        assert!(
            section.contains(&generated),
            "README.md's configuration table is interrupted, so Markdown shows two tables"
        );
    }
}
