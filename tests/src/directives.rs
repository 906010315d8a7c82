//! Directives a C test program carries in its own source, one per line, each a line of the
//! form `// mfs-KEY: VALUE`:
//!
//! | directive | meaning |
//! | --- | --- |
//! | `// mfs-config: <toml line>` | run with a generated `MFS_CONFIG` instead of `MFS_MIRROR`; the line is added to the `[[pair]]` table (repeatable) |
//! | `// mfs-cflags: <flags>` | extra compiler flags, after the source (repeatable) |
//! | `// mfs-compare: no` | do not compare the trees afterwards (the program checks what it needs itself) |
//! | `// mfs-args: state` | pass the state directory (journals) as a third argument |

use std::path::Path;

/// The directives of one C test program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// Extra `[[pair]]` lines; non-empty means "run with a configuration file".
    pub config: Vec<String>,
    /// Extra compiler flags.
    pub cflags: Vec<String>,
    /// Whether the harness compares primary and mirror after the run.
    pub compare: bool,
    /// Whether the program gets the state directory as `argv[3]`.
    pub args_state: bool,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { config: Vec::new(), cflags: Vec::new(), compare: true, args_state: false }
    }
}

impl Directives {
    /// Parses the directives out of a C source text. Unknown `mfs-` keys and bad values are
    /// errors, so a misspelt directive cannot be silently ignored.
    pub fn parse(text: &str) -> Result<Directives, String> {
        let mut d = Directives::default();
        for (no, line) in text.lines().enumerate() {
            let Some(rest) = line.trim_start().strip_prefix("// mfs-") else {
                continue;
            };
            let at = || format!("line {}", no + 1);
            let (key, value) = rest.split_once(':').ok_or_else(|| format!("{}: directive without ':'", at()))?;
            let value = value.trim();
            match key.trim() {
                "config" => d.config.push(value.to_owned()),
                "cflags" => d.cflags.extend(value.split_whitespace().map(str::to_owned)),
                "compare" => {
                    d.compare = match value {
                        "yes" => true,
                        "no" => false,
                        other => return Err(format!("{}: mfs-compare takes yes or no, not {other:?}", at())),
                    }
                }
                "args" => {
                    for word in value.split_whitespace() {
                        match word {
                            "state" => d.args_state = true,
                            other => return Err(format!("{}: unknown mfs-args word {other:?} (known: state)", at())),
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "{}: unknown directive mfs-{other} (known: mfs-config, mfs-cflags, mfs-compare, mfs-args)",
                        at()
                    ))
                }
            }
        }
        Ok(d)
    }

    /// Reads and parses a C source file's directives.
    pub fn from_file(path: &Path) -> Result<Directives, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Directives::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_directive() {
        let text = "// mfs-config: read_from = \"mirror\"\n// mfs-config: mode = \"one-way\"\n\
                    // mfs-cflags: -D_FORTIFY_SOURCE=2 -O2\n// mfs-compare: no\n// mfs-args: state\n\
                    #include \"mfstest.h\"\n";
        let d = Directives::parse(text).unwrap();
        assert_eq!(d.config, vec!["read_from = \"mirror\"", "mode = \"one-way\""]);
        assert_eq!(d.cflags, vec!["-D_FORTIFY_SOURCE=2", "-O2"]);
        assert!(!d.compare);
        assert!(d.args_state);
    }

    #[test]
    fn defaults_without_directives() {
        assert_eq!(Directives::parse("int main(void) { return 0; }\n").unwrap(), Directives::default());
    }

    #[test]
    fn rejects_unknown_and_bad_values() {
        assert!(Directives::parse("// mfs-confg: x = 1\n").unwrap_err().contains("unknown directive mfs-confg"));
        assert!(Directives::parse("// mfs-compare: maybe\n").is_err());
        assert!(Directives::parse("// mfs-args: daemon\n").is_err());
        assert!(Directives::parse("// mfs-config\n").is_err());
    }
}
