//! Property tests for the two parsers of untrusted input: the command
//! parser (any bytes: no panic) and the path resolver (any text, any
//! symlink layout: no panic, and nothing resolved or opened leaves the home).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use pocketftpd::protocol::command::{parse, verb_of};
use pocketftpd::vfs::{Jail, VirtualPath};
use proptest::prelude::*;

const VERBS: &[&str] = &[
    "USER", "PASS", "CWD", "RETR", "STOR", "APPE", "STOU", "REST", "ALLO", "PORT", "EPRT", "EPSV",
    "PASV", "TYPE", "MODE", "STRU", "LIST", "NLST", "MLSD", "MLST", "STAT", "SITE", "HASH", "OPTS",
    "RNFR", "RNTO", "MKD", "RMD", "DELE", "SIZE", "MDTM", "XMD5", "HELP", "ABOR", "noop",
];

/// Bytes that stress the parser: separators, Telnet, NUL, CR/LF, UTF-8
/// fragments, digits and punctuation PORT/EPRT/REST care about.
fn nasty_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => any::<u8>(),
        2 => prop::sample::select(vec![
            b' ', b',', b'|', b'.', b'/', b'-', b'0', b'1', b'9', b'\r', b'\n', 0, 0xff, 0xf4,
            0xfb, 0xc3, 0xa9, b':', b'A', b'a',
        ]),
    ]
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "a", "b", "sub", "link", "out", "up", "..", ".", "...", "", " ", "a b", "é",
            "x\\y", "%2e%2e", "f",
        ])
        .prop_map(str::to_string),
        1 => "[a-z.]{0,3}".prop_map(|s| s),
        1 => prop::collection::vec(any::<char>(), 0..4).prop_map(|c| c.into_iter().collect()),
    ]
}

fn client_path() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(component(), 0..12),
        any::<bool>(),
    )
        .prop_map(|(absolute, parts, trailing)| {
            let mut text = if absolute {
                "/".to_string()
            } else {
                String::new()
            };
            text.push_str(&parts.join("/"));
            if trailing {
                text.push('/');
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_any_bytes(raw in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&raw);
        prop_assert!(verb_of(&raw).chars().count() <= 8);
    }

    #[test]
    fn parse_never_panics_on_known_verbs_with_nasty_arguments(
        verb in prop::sample::select(VERBS),
        spaces in 0usize..3,
        arg in prop::collection::vec(nasty_byte(), 0..80),
        eol in prop::sample::select(vec![&b"\r\n"[..], b"\n", b"", b"\r"]),
    ) {
        let mut line = verb.as_bytes().to_vec();
        line.extend(std::iter::repeat_n(b' ', spaces));
        line.extend_from_slice(&arg);
        line.extend_from_slice(eol);
        let _ = parse(&line);
    }

    #[test]
    fn resolved_paths_are_clean_and_inside_the_virtual_root(
        cwd in client_path(),
        text in client_path(),
        raw in prop::collection::vec(nasty_byte(), 0..64),
    ) {
        let home = TempTree::new();
        let jail = Jail::new(&home.home).unwrap();
        let root = VirtualPath::root();
        let cwd = jail.resolve(&root, &cwd).unwrap_or_else(|_| VirtualPath::root());
        let lossy = String::from_utf8_lossy(&raw).into_owned();
        for input in [text.as_str(), lossy.as_str()] {
            let Ok(path) = jail.resolve(&cwd, input) else { continue };
            let s = path.as_str();
            prop_assert!(s.starts_with('/'), "{s:?}");
            prop_assert!(s == "/" || !s.ends_with('/'), "{s:?}");
            let parts: Vec<&str> = s.split('/').skip(1).filter(|p| !p.is_empty()).collect();
            prop_assert!(s == "/" || parts.len() == s.split('/').count() - 1, "{s:?}");
            prop_assert!(parts.iter().all(|p| *p != "." && *p != ".."), "{s:?}");
            prop_assert!(!s.contains(['\r', '\n', '\0']), "{s:?}");
            prop_assert!(parts.len() <= 64 && parts.iter().all(|p| p.len() <= 255));
        }
    }
}

// ---- arbitrary symlink layouts ------------------------------------------------

/// A home with an "outside" folder beside it holding a secret.
struct TempTree {
    base: PathBuf,
    home: PathBuf,
    outside: PathBuf,
}

impl TempTree {
    fn new() -> TempTree {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join(format!(
            "pocketftpd-prop-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        let (home, outside) = (base.join("home"), base.join("outside"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(outside.join("d")).unwrap();
        std::fs::write(outside.join("secret"), b"SECRET").unwrap();
        std::fs::write(outside.join("d/secret"), b"SECRET").unwrap();
        TempTree {
            base,
            home,
            outside,
        }
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

#[derive(Debug, Clone)]
enum Entry {
    Dir,
    File,
    Link(String),
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        2 => Just(Entry::Dir),
        1 => Just(Entry::File),
        3 => prop::sample::select(vec![
            "..", "../..", "../outside", "../../outside", "../outside/secret", "@outside",
            "@outside/d", "@home", "@home/a", "/", ".", "a", "b/c", "sub", "missing",
            "../home/a", "link", "@outside/new",
        ])
        .prop_map(|t| Entry::Link(t.to_string())),
    ]
}

/// Places entries at random places in the home (a parent that is not a
/// folder just makes that entry fail, which is fine).
fn build(tree: &TempTree, layout: &[(Vec<String>, Entry)]) {
    for (parts, entry) in layout {
        let mut path = tree.home.clone();
        for part in parts {
            path.push(part);
        }
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = match entry {
            Entry::Dir => std::fs::create_dir(&path),
            Entry::File => std::fs::write(&path, b"inside"),
            Entry::Link(target) => {
                let target = target
                    .replace("@outside", &tree.outside.display().to_string())
                    .replace("@home", &tree.home.display().to_string());
                symlink(target, &path)
            }
        };
    }
}

fn inside(root: &Path, real: &Path) -> bool {
    real.starts_with(root)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_resolved_or_opened_path_leaves_the_home_whatever_the_symlinks(
        layout in prop::collection::vec(
            (prop::collection::vec(
                prop::sample::select(vec!["a", "b", "sub", "link", "c"]).prop_map(str::to_string),
                1..4,
            ), entry()),
            0..14,
        ),
        probes in prop::collection::vec(client_path(), 1..24),
    ) {
        let tree = TempTree::new();
        build(&tree, &layout);
        // (Building may itself write through a link to outside; only what
        // the jail does afterwards counts.)
        let outside_before = std::fs::read_dir(&tree.outside).unwrap().count();
        let jail = Jail::new(&tree.home).unwrap();
        let root = jail.root().to_path_buf();
        let cwd = VirtualPath::root();
        for text in &probes {
            let Ok(path) = jail.resolve(&cwd, text) else { continue };
            if let Ok(real) = jail.existing(&path) {
                prop_assert!(inside(&root, &real), "{text:?} -> {real:?}");
            }
            if let Ok(real) = jail.locate(&path) {
                prop_assert!(inside(&root, &real), "{text:?} -> {real:?}");
            }
            if let Ok(real) = jail.for_create(&path) {
                prop_assert!(inside(&root, &real), "{text:?} -> {real:?}");
                let parent = std::fs::canonicalize(real.parent().unwrap()).unwrap();
                prop_assert!(inside(&root, &parent), "{text:?} -> {real:?}");
            }
            if let Ok((mut file, _, _)) = jail.open_read(&path) {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
                prop_assert_ne!(bytes, b"SECRET".to_vec(), "{:?}", text);
            }
        }
        // Nothing was created outside.
        let outside_after = std::fs::read_dir(&tree.outside).unwrap().count();
        prop_assert_eq!(outside_after, outside_before);
    }
}
