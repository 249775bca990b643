//! Who the process runs as, and the accounts a private PostgreSQL may run
//! under. Reads `/proc` and `/etc/passwd` rather than calling libc, so the
//! workspace stays free of `unsafe`.

use std::os::unix::fs::MetadataExt;

/// A local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The effective uid of this process.
pub fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

pub fn is_root() -> bool {
    current_uid() == Some(0)
}

pub fn current_name() -> Option<String> {
    let uid = current_uid()?;
    accounts()
        .into_iter()
        .find(|a| a.uid == uid)
        .map(|a| a.name)
}

pub fn by_name(name: &str) -> Option<Account> {
    accounts().into_iter().find(|a| a.name == name)
}

fn accounts() -> Vec<Account> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd.lines().filter_map(parse_passwd_line).collect()
}

fn parse_passwd_line(line: &str) -> Option<Account> {
    let mut fields = line.split(':');
    let name = fields.next()?.to_owned();
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some(Account { name, uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_into_accounts() {
        let a = parse_passwd_line("postgres:x:105:111:PostgreSQL:/var/lib/postgresql:/bin/bash");
        assert_eq!(
            a,
            Some(Account {
                name: "postgres".into(),
                uid: 105,
                gid: 111
            })
        );
        assert_eq!(parse_passwd_line("broken:x:abc:1"), None);
        assert_eq!(parse_passwd_line("# comment"), None);
    }

    #[test]
    fn the_current_user_is_known() {
        assert!(current_uid().is_some());
        assert!(current_name().is_some());
    }
}
