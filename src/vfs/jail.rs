//! The home jail: every client path resolves inside the user's home or not
//! at all.
//!
//! Two checks, in this order:
//! 1. **Lexical.** [`Jail::resolve`] turns client text into a [`VirtualPath`]:
//!    absolute from the home (`/`) or relative to the working folder, with `.`
//!    dropped and `..` climbing at most to `/`. Nothing else can build a
//!    `VirtualPath`, so a handler holding one holds a path that is inside the
//!    home as text.
//! 2. **Physical.** Symlinks inside the home may point anywhere. Before any
//!    real path is used, [`Jail::existing`] and [`Jail::for_create`]
//!    canonicalise it (or its parent) and check that the result is still
//!    under the canonical home. Files are then opened with `O_NOFOLLOW` and,
//!    for reads, checked again after the open ([`Jail::open_read`]), so a
//!    symlink swapped in between the check and the open cannot take us out.
//!
//! FTP itself cannot create symlinks or hard links; they only appear when
//! someone with a shell puts them there. A hard link to a file outside is
//! indistinguishable from a file inside and is served: do not give shell
//! users write access to FTP homes (README, Security).

use std::fs::{File, Metadata, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use log::warn;

use super::VfsError;
use crate::limits::{MAX_NAME_LEN, MAX_PATH_DEPTH, MAX_PATH_LEN};

/// A path as the client sees it: starts with `/` (the home), no `.` or `..`,
/// no empty components, no trailing slash (except the root itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The home itself.
    pub fn root() -> VirtualPath {
        VirtualPath("/".to_string())
    }

    /// The path text, for replies.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the home itself.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// Components below the root.
    fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|part| !part.is_empty())
    }

    /// The last component (`None` for the root).
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// The folder that holds this path (the root for the root).
    pub fn parent(&self) -> VirtualPath {
        match self.0.rfind('/') {
            Some(0) | None => VirtualPath::root(),
            Some(index) => VirtualPath(self.0[..index].to_string()),
        }
    }

    /// A child of this folder. The name must already be valid (one
    /// component, as read from a directory or built by STOU).
    pub(crate) fn child(&self, name: &str) -> VirtualPath {
        if self.is_root() {
            VirtualPath(format!("/{name}"))
        } else {
            VirtualPath(format!("{}/{name}", self.0))
        }
    }
}

/// One user's home, canonicalised at login.
#[derive(Debug, Clone)]
pub struct Jail {
    root: PathBuf,
}

impl Jail {
    /// Opens the jail at `home`, which must exist and be a folder.
    pub fn new(home: &Path) -> std::io::Result<Jail> {
        let root = std::fs::canonicalize(home)?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "home is not a directory",
            ));
        }
        Ok(Jail { root })
    }

    /// The canonical home folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves client text against the working folder, lexically.
    ///
    /// Errors: [`VfsError::InvalidName`] for CR/LF/NUL in a component, a
    /// component over 255 bytes, a path over 4096 bytes or 64 levels.
    pub fn resolve(&self, cwd: &VirtualPath, text: &str) -> Result<VirtualPath, VfsError> {
        if text.len() > MAX_PATH_LEN {
            return Err(VfsError::InvalidName);
        }
        let mut parts: Vec<&str> = if text.starts_with('/') {
            Vec::new()
        } else {
            cwd.components().collect()
        };
        for part in text.split('/') {
            match part {
                "" | "." => {}
                // SECURITY: `..` at the root stays at the root, like `cd ..`
                // in `/`; it can never climb above the home.
                ".." => {
                    parts.pop();
                }
                name => {
                    validate_name(name)?;
                    parts.push(name);
                }
            }
        }
        if parts.len() > MAX_PATH_DEPTH {
            return Err(VfsError::InvalidName);
        }
        Ok(VirtualPath(format!("/{}", parts.join("/"))))
    }

    /// The real path a virtual path names, before any symlink check. Only
    /// for building paths that are then checked (or for log lines).
    fn lexical(&self, path: &VirtualPath) -> PathBuf {
        let mut real = self.root.clone();
        real.extend(path.components());
        real
    }

    /// The canonical real path of something that exists, checked to be
    /// inside the home.
    ///
    /// Errors: [`VfsError::NotFound`]; [`VfsError::PathEscapesHome`] when a
    /// symlink leads out (logged as a warning).
    pub fn existing(&self, path: &VirtualPath) -> Result<PathBuf, VfsError> {
        let lexical = self.lexical(path);
        let real = std::fs::canonicalize(&lexical)?;
        self.check_inside(&real, path)?;
        Ok(real)
    }

    /// The real path at which to create (or replace) `path`: its parent must
    /// exist inside the home, and if `path` itself is a symlink, its target
    /// must be inside too (then the target is returned).
    ///
    /// Errors: as [`Jail::existing`], plus [`VfsError::PermissionDenied`] for
    /// the home itself or a dangling symlink.
    pub fn for_create(&self, path: &VirtualPath) -> Result<PathBuf, VfsError> {
        let target = self.locate(path)?;
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => {
                // SECURITY: writing through a symlink that points outside
                // (or dangles, so the write would create a file outside)
                // would leave the jail.
                let real = std::fs::canonicalize(&target).map_err(|_| {
                    warn!(
                        "refused a write through dangling symlink {}",
                        target.display()
                    );
                    VfsError::PermissionDenied
                })?;
                self.check_inside(&real, path)?;
                // A link to the home itself names a folder, never a file
                // to create (and its parent is outside the home).
                if real == self.root {
                    return Err(VfsError::IsADirectory);
                }
                Ok(real)
            }
            _ => Ok(target),
        }
    }

    /// The real path of the entry `path` names, without following it if it
    /// is a symlink: the canonical parent (checked to be inside the home)
    /// plus the name. For DELE, RMD and RNFR/RNTO, which act on the link
    /// itself, never on what it points to.
    ///
    /// Errors: as [`Jail::existing`] for the parent, plus
    /// [`VfsError::PermissionDenied`] for the home itself.
    pub fn locate(&self, path: &VirtualPath) -> Result<PathBuf, VfsError> {
        let Some(name) = path.file_name() else {
            return Err(VfsError::PermissionDenied);
        };
        let parent = self.existing(&path.parent())?;
        if !parent.is_dir() {
            return Err(VfsError::NotADirectory);
        }
        Ok(parent.join(name))
    }

    fn check_inside(&self, real: &Path, path: &VirtualPath) -> Result<(), VfsError> {
        if real.starts_with(&self.root) {
            Ok(())
        } else {
            warn!(
                "refused {:?}: resolves to {} outside the home {}",
                path.as_str(),
                real.display(),
                self.root.display()
            );
            Err(VfsError::PathEscapesHome)
        }
    }

    /// Opens an existing regular file for reading.
    ///
    /// SECURITY: `O_NOFOLLOW` refuses a final symlink swapped in after the
    /// check, and `O_NONBLOCK` keeps a FIFO from blocking the worker in
    /// `open`. After the open, the kernel's own path of the open descriptor
    /// is checked ([`Jail::check_opened`]), so a folder on the way that was
    /// swapped for a symlink between the check and the open is caught: the
    /// check-then-open race cannot leak a file from outside.
    ///
    /// Errors: as [`Jail::existing`], plus [`VfsError::IsADirectory`] and
    /// [`VfsError::NotARegularFile`].
    /// Also returns the canonical real path that was opened.
    pub fn open_read(&self, path: &VirtualPath) -> Result<(File, Metadata, PathBuf), VfsError> {
        let real = self.existing(path)?;
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&real)?;
        self.check_opened(&file, &real, path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(VfsError::IsADirectory);
        }
        if !meta.is_file() {
            return Err(VfsError::NotARegularFile);
        }
        Ok((file, meta, real))
    }

    /// Opens `real` (from [`Jail::for_create`]) for writing with the given
    /// options (which may create it), never following a final symlink.
    ///
    /// SECURITY: a check-then-create race would create the file wherever a
    /// swapped-in symlink points, before any check after the open could
    /// object. So the folder is opened first and checked by its descriptor,
    /// and the file is then opened relative to that descriptor (through
    /// `/proc/self/fd/N/name`, std's stand-in for `openat`): it lands in the
    /// folder that was checked, whatever happens to the path meanwhile.
    pub fn open_write(
        &self,
        real: &Path,
        options: &mut OpenOptions,
        path: &VirtualPath,
    ) -> Result<File, VfsError> {
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            return Err(VfsError::PermissionDenied);
        };
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let file = match self.open_folder(parent, path)? {
            Some(folder) => {
                let mut through = fd_path(&folder);
                through.push(name);
                options.open(&through)?
            }
            // No /proc: open by path and check afterwards (a file created
            // through a swapped folder is then refused, but stays there).
            None => options.open(real)?,
        };
        self.check_opened(&file, real, path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(VfsError::NotARegularFile);
        }
        Ok(file)
    }

    /// Opens a folder and checks where it really is. `None` when the system
    /// has no /proc to ask.
    fn open_folder(&self, folder: &Path, path: &VirtualPath) -> Result<Option<File>, VfsError> {
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(folder)?;
        match std::fs::read_link(fd_path(&dir)) {
            Ok(real) => {
                self.check_inside(&real, path)?;
                Ok(Some(dir))
            }
            Err(_) => Ok(None),
        }
    }

    /// Checks that an open descriptor is inside the home, by the path the
    /// kernel keeps for it (`/proc/self/fd/N`), which no later rename or
    /// swap of a folder on the way can fake. Where /proc is missing, falls
    /// back to comparing device and inode with what the checked path names
    /// now (which leaves a short window).
    fn check_opened(&self, file: &File, real: &Path, path: &VirtualPath) -> Result<(), VfsError> {
        if let Ok(opened) = std::fs::read_link(fd_path(file)) {
            // A file deleted meanwhile reads as "/path (deleted)"; the
            // prefix test still holds for it.
            return self.check_inside(&opened, path);
        }
        let opened = file.metadata()?;
        let now = std::fs::canonicalize(real)?;
        self.check_inside(&now, path)?;
        let named = std::fs::metadata(&now)?;
        if named.dev() != opened.dev() || named.ino() != opened.ino() {
            warn!(
                "refused {:?}: the file changed while it was opened",
                path.as_str()
            );
            return Err(VfsError::PathEscapesHome);
        }
        Ok(())
    }

    /// Maps a real path inside the home back to its virtual path (for
    /// canonical paths returned by [`Jail::existing`]).
    pub fn virtual_of(&self, real: &Path) -> Option<VirtualPath> {
        let rest = real.strip_prefix(&self.root).ok()?;
        let mut text = String::from("/");
        let parts: Vec<String> = rest
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        text.push_str(&parts.join("/"));
        Some(VirtualPath(text))
    }
}

/// The `/proc` path naming an open descriptor of this process.
fn fd_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// One path component we are willing to resolve or create.
fn validate_name(name: &str) -> Result<(), VfsError> {
    // SECURITY: CR and LF in a name would let a listing or a 257 reply
    // carry a forged reply line; NUL cannot reach the OS. (The parser
    // already refuses NUL; this keeps the jail safe on its own.)
    if name.len() > MAX_NAME_LEN || name.contains(['\r', '\n', '\0']) {
        return Err(VfsError::InvalidName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempHome {
        base: PathBuf,
    }

    impl TempHome {
        fn new(tag: &str) -> TempHome {
            let base =
                std::env::temp_dir().join(format!("pocketftpd-jail-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            std::fs::create_dir_all(base.join("home/sub")).unwrap();
            std::fs::create_dir_all(base.join("outside")).unwrap();
            std::fs::write(base.join("outside/secret"), b"secret").unwrap();
            std::fs::write(base.join("home/sub/file"), b"ok").unwrap();
            TempHome { base }
        }
        fn jail(&self) -> Jail {
            Jail::new(&self.base.join("home")).unwrap()
        }
    }

    impl Drop for TempHome {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    fn vp(text: &str) -> VirtualPath {
        VirtualPath(text.to_string())
    }

    #[test]
    fn lexical_escape_attempts_stay_inside() {
        let home = TempHome::new("lexical");
        let jail = home.jail();
        let cwd = vp("/sub");
        let table = [
            ("..", "/"),
            ("../..", "/"),
            ("/..", "/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("//etc", "/etc"),
            ("a/../../b", "/b"),
            ("./x/./y/", "/sub/x/y"),
            ("..\\..\\etc", "/sub/..\\..\\etc"),
            ("%2e%2e/%2e%2e", "/sub/%2e%2e/%2e%2e"),
            ("...", "/sub/..."),
            ("", "/sub"),
        ];
        for (input, expected) in table {
            assert_eq!(
                jail.resolve(&cwd, input).unwrap().as_str(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let home = TempHome::new("names");
        let jail = home.jail();
        let root = VirtualPath::root();
        for input in [
            "a\r\nb",
            "x\n",
            &"n".repeat(256),
            &"d/".repeat(65),
            &"a".repeat(5000),
        ] {
            assert!(
                matches!(jail.resolve(&root, input), Err(VfsError::InvalidName)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn symlink_pointing_outside_is_refused() {
        let home = TempHome::new("symlink");
        let jail = home.jail();
        std::os::unix::fs::symlink(home.base.join("outside"), home.base.join("home/out")).unwrap();
        std::os::unix::fs::symlink(home.base.join("outside/secret"), home.base.join("home/s"))
            .unwrap();
        std::os::unix::fs::symlink(
            home.base.join("outside/new"),
            home.base.join("home/dangling"),
        )
        .unwrap();
        let root = VirtualPath::root();
        for input in ["out", "out/secret", "s"] {
            let path = jail.resolve(&root, input).unwrap();
            assert!(
                matches!(jail.existing(&path), Err(VfsError::PathEscapesHome)),
                "{input}"
            );
        }
        assert!(matches!(
            jail.open_read(&vp("/s")),
            Err(VfsError::PathEscapesHome)
        ));
        assert!(matches!(
            jail.for_create(&vp("/out/new")),
            Err(VfsError::PathEscapesHome)
        ));
        assert!(matches!(
            jail.for_create(&vp("/s")),
            Err(VfsError::PathEscapesHome)
        ));
        assert!(matches!(
            jail.for_create(&vp("/dangling")),
            Err(VfsError::PermissionDenied)
        ));
        assert!(!home.base.join("outside/new").exists());
    }

    #[test]
    fn symlink_inside_the_home_is_followed() {
        let home = TempHome::new("inside");
        let jail = home.jail();
        std::os::unix::fs::symlink("sub", home.base.join("home/alias")).unwrap();
        let (_, meta, _) = jail.open_read(&vp("/alias/file")).unwrap();
        assert_eq!(meta.len(), 2);
        assert_eq!(
            jail.virtual_of(&jail.existing(&vp("/alias")).unwrap())
                .unwrap(),
            vp("/sub")
        );
    }

    #[test]
    fn fifo_and_directory_are_not_opened_as_files() {
        let home = TempHome::new("fifo");
        let jail = home.jail();
        let status = std::process::Command::new("mkfifo")
            .arg(home.base.join("home/pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        assert!(matches!(
            jail.open_read(&vp("/pipe")),
            Err(VfsError::NotARegularFile)
        ));
        assert!(matches!(
            jail.open_read(&vp("/sub")),
            Err(VfsError::IsADirectory)
        ));
    }

    #[test]
    fn virtual_path_parts() {
        assert_eq!(vp("/a/b").parent(), vp("/a"));
        assert_eq!(vp("/a").parent(), VirtualPath::root());
        assert_eq!(VirtualPath::root().parent(), VirtualPath::root());
        assert_eq!(vp("/a/b").file_name(), Some("b"));
        assert_eq!(VirtualPath::root().file_name(), None);
        assert_eq!(VirtualPath::root().child("x"), vp("/x"));
        assert_eq!(vp("/a").child("x"), vp("/a/x"));
    }
}
