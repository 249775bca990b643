//! Command-line flags, one per key that a command reads, built from
//! [`KEYS`] rather than declared a second time.

use std::fmt;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::{DEFAULT_CONFIG_FILE, Flag, KEYS, Key, Overrides};

/// `--config` and the flags of the keys a command reads; `SERVE` adds the
/// keys only `serve` uses.
pub struct ConfigFlags<const SERVE: bool> {
    pub file: Option<PathBuf>,
    pub overrides: Overrides,
}

/// Flags of the commands that only reach the database.
pub type CommonFlags = ConfigFlags<false>;
/// Flags of `serve`.
pub type ServeFlags = ConfigFlags<true>;

impl<const SERVE: bool> ConfigFlags<SERVE> {
    fn keys() -> impl Iterator<Item = &'static Key> {
        KEYS.iter().filter(|key| match key.flag {
            Flag::Every(_) => true,
            Flag::Serve(_) | Flag::ServeOff => SERVE,
            Flag::NoFlag => false,
        })
    }
}

impl<const SERVE: bool> clap::Args for ConfigFlags<SERVE> {
    fn augment_args(cmd: Command) -> Command {
        let config = Arg::new("config")
            .long("config")
            .value_name("PATH")
            .help(format!(
                "Configuration file [env: IDSTORE_CONFIG] [default: ./{DEFAULT_CONFIG_FILE} when present]"
            ));
        cmd.arg(config).args(Self::keys().filter_map(arg))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl<const SERVE: bool> clap::FromArgMatches for ConfigFlags<SERVE> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let overrides = Self::keys()
            .filter_map(|key| Some((key.name, given(key, matches)?)))
            .collect();
        Ok(Self {
            file: matches.get_one::<String>("config").map(PathBuf::from),
            overrides,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// Flag values can be secrets: only which keys were given is shown.
impl<const SERVE: bool> fmt::Debug for ConfigFlags<SERVE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given: Vec<_> = self.overrides.iter().map(|(key, _)| key).collect();
        f.debug_struct("ConfigFlags")
            .field("file", &self.file)
            .field("given", &given)
            .finish()
    }
}

fn arg(key: &'static Key) -> Option<Arg> {
    let arg = Arg::new(key.name).long(key.long_flag()?);
    let env = key.env_summary(str::to_owned);
    let arg = match key.flag {
        Flag::Every(value_name) | Flag::Serve(value_name) => {
            arg.value_name(value_name).help(format!(
                "{} [env: {env}] [default: {}]",
                key.description(),
                key.default_text()
            ))
        }
        Flag::ServeOff => arg.action(ArgAction::SetTrue).help(format!(
            "Turn off `{}` (on by default). {} [env: {env}=false]",
            key.name,
            key.description()
        )),
        Flag::NoFlag => return None,
    };
    Some(arg)
}

/// Values stay text to be typed with the other layers, except whole
/// numbers: a flag cannot say `workers = 4` rather than `"4"`.
fn given(key: &Key, matches: &ArgMatches) -> Option<figment::value::Value> {
    if key.flag == Flag::ServeOff {
        return matches.get_flag(key.name).then(|| false.into());
    }
    let text = matches.get_one::<String>(key.name)?;
    Some(
        text.parse::<u64>()
            .map_or_else(|_| text.clone().into(), Into::into),
    )
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use figment::value::Value;

    use crate::cli::{Cli, Command};

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_become_typed_overrides() {
        let cli = Cli::try_parse_from([
            "idstore",
            "serve",
            "--listen",
            "127.0.0.1:9",
            "--workers",
            "4",
            "--no-migrate",
        ])
        .unwrap();
        let Command::Serve(flags) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(
            flags.overrides,
            [
                ("listen", Value::from("127.0.0.1:9")),
                ("migrate", Value::from(false)),
                ("workers", Value::from(4_u64)),
            ]
        );
    }

    #[test]
    fn serve_only_and_unflagged_keys_are_refused_elsewhere() {
        for args in [
            ["idstore", "migrate", "--listen", "127.0.0.1:9"],
            ["idstore", "serve", "--bootstrap-client-secret", "x"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn debug_output_names_given_flags_but_not_their_values() {
        let cli = Cli::try_parse_from([
            "idstore",
            "migrate",
            "--database-url",
            "postgres://u:s3cret@h/d",
        ])
        .unwrap();
        let Command::Migrate(flags) = cli.command else {
            panic!("not migrate")
        };
        let shown = format!("{flags:?}");
        assert!(
            shown.contains("database_url") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
