//! Fuzzes the path resolver against a fixed home holding symlinks that point
//! up, out, absolute and nowhere: any (working folder, client text) pair must
//! resolve to a clean virtual path, and nothing the jail hands back or opens
//! may lie outside the home.
#![no_main]

use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pocketftpd::vfs::{Jail, VirtualPath};

/// The home, built once per fuzzing process in the temp folder.
fn jail() -> &'static Jail {
    static JAIL: OnceLock<Jail> = OnceLock::new();
    JAIL.get_or_init(|| {
        let base: PathBuf =
            std::env::temp_dir().join(format!("pocketftpd-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (home, outside) = (base.join("home"), base.join("outside"));
        std::fs::create_dir_all(home.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"SECRET").unwrap();
        std::fs::write(home.join("sub/file"), b"inside").unwrap();
        for (name, target) in [
            ("up", PathBuf::from("..")),
            ("out", outside.clone()),
            ("secret", outside.join("secret")),
            ("rel", PathBuf::from("../outside")),
            ("loop", PathBuf::from("loop")),
            ("dangling", outside.join("missing")),
            ("sub/back", PathBuf::from("../..")),
            ("alias", PathBuf::from("sub")),
        ] {
            let _ = symlink(target, home.join(name));
        }
        Jail::new(&home).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let jail = jail();
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (cwd, text) = data.split_at(split);
    let root = VirtualPath::root();
    let cwd = jail
        .resolve(&root, &String::from_utf8_lossy(cwd))
        .unwrap_or(root);
    let Ok(path) = jail.resolve(&cwd, &String::from_utf8_lossy(text)) else {
        return;
    };
    let s = path.as_str();
    assert!(s.starts_with('/'));
    assert!(!s.contains(['\r', '\n', '\0']));
    assert!(s.split('/').all(|p| p != "." && p != ".."));
    let home = jail.root();
    if let Ok(real) = jail.existing(&path) {
        assert!(real.starts_with(home), "{s:?} -> {real:?}");
    }
    if let Ok(real) = jail.for_create(&path) {
        assert!(real.starts_with(home), "{s:?} -> {real:?}");
    }
    if let Ok((mut file, _, _)) = jail.open_read(&path) {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut file, &mut bytes);
        assert_ne!(bytes, b"SECRET");
    }
});
