use super::*;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

#[test]
fn crash_keeps_only_synced_bytes_and_synced_names() {
    let fs = FaultFs::new();
    fs.create_dir_all(&dir()).unwrap();
    let a = dir().join("a");
    let mut f = fs.create(&a).unwrap();
    f.append(b"hello").unwrap();
    f.sync().unwrap();
    f.append(b" world").unwrap();
    // Name not yet durable: the whole file vanishes.
    fs.crash(None);
    assert!(!fs.exists(&a));

    let mut f = fs.create(&a).unwrap();
    f.append(b"hello").unwrap();
    f.sync().unwrap();
    fs.sync_dir(&dir()).unwrap();
    f.append(b" world").unwrap();
    fs.crash(None);
    assert_eq!(fs.read_all(&a).unwrap(), b"hello");
    // Old handle is dead after the crash.
    assert!(f.append(b"x").is_err());
}

#[test]
fn rename_is_durable_only_after_dir_sync() {
    let fs = FaultFs::new();
    let (a, b) = (dir().join("a"), dir().join("b"));
    let mut f = fs.create(&a).unwrap();
    f.append(b"1").unwrap();
    f.sync().unwrap();
    fs.sync_dir(&dir()).unwrap();
    fs.rename(&a, &b).unwrap();
    fs.crash(None);
    assert!(fs.exists(&a) && !fs.exists(&b));
    fs.rename(&a, &b).unwrap();
    fs.sync_dir(&dir()).unwrap();
    fs.crash(None);
    assert!(!fs.exists(&a) && fs.exists(&b));
}

#[test]
fn injected_sync_fault_and_capacity() {
    let fs = FaultFs::new();
    let mut f = fs.create(&dir().join("a")).unwrap();
    fs.inject(FaultKind::Sync, 1);
    f.sync().unwrap();
    assert!(f.sync().is_err());
    assert!(f.sync().is_err());
    fs.clear_faults();
    f.sync().unwrap();
    fs.set_capacity(Some(4));
    f.append(b"1234").unwrap();
    let e = f.append(b"5").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
}

#[test]
fn one_shot_fault_fails_exactly_one_operation() {
    let fs = FaultFs::new();
    let mut f = fs.create(&dir().join("a")).unwrap();
    fs.inject_once(FaultKind::Sync, 1);
    f.sync().unwrap();
    assert!(fs.sync_dir(&dir()).is_err(), "the second sync fails");
    f.sync().unwrap();
    fs.sync_dir(&dir()).unwrap();
    f.append(b"x").unwrap();
}

#[test]
fn std_fs_roundtrip_and_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = StdFs;
    let p = tmp.path().join("f");
    let mut f = fs.create(&p).unwrap();
    f.append(b"abcdef").unwrap();
    f.sync().unwrap();
    let r = fs.open_read(&p).unwrap();
    let mut buf = [0u8; 3];
    r.read_exact_at(2, &mut buf).unwrap();
    assert_eq!(&buf, b"cde");
    assert!(r.read_exact_at(5, &mut buf).is_err());
    let lock = tmp.path().join("LOCK");
    let g = fs.lock(&lock).unwrap();
    assert!(fs.lock(&lock).is_err());
    drop(g);
    assert!(fs.lock(&lock).is_ok());
}

#[test]
fn std_fs_immutable_files_read_like_open_read() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = StdFs;
    let p = tmp.path().join("t.sst");
    let mut f = fs.create(&p).unwrap();
    f.append(b"abcdef").unwrap();
    f.sync().unwrap();
    drop(f);
    let r = fs.open_immutable(&p).unwrap();
    assert_eq!(r.size(), 6);
    let mut buf = [0u8; 3];
    r.read_exact_at(2, &mut buf).unwrap();
    assert_eq!(&buf, b"cde");
    assert!(r.read_exact_at(4, &mut buf).is_err());
    assert!(r.read_exact_at(u64::MAX, &mut buf).is_err());
    // The name may go while the file is open: reads still see the data.
    fs.remove_file(&p).unwrap();
    r.read_exact_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"abc");
    // An empty file opens (nothing to map) and every read fails.
    let e = tmp.path().join("empty");
    drop(fs.create(&e).unwrap());
    let r = fs.open_immutable(&e).unwrap();
    assert_eq!(r.size(), 0);
    assert!(r.read_exact_at(0, &mut buf).is_err());
}

/// A clone is a process's view of the disk: after a crash it can no longer change names or
/// sync them (the process died with the power), while the machine's handle, and clones made
/// after the crash, work. The engine-level failure this prevents: a database left open across
/// the crash finished a manifest roll on the rebooted disk — its directory sync made the old
/// `CURRENT` durable again, then it removed the manifest that `CURRENT` names.
#[test]
fn a_crash_kills_the_clones_made_before_it() {
    let fs = FaultFs::new();
    let (a, b) = (dir().join("a"), dir().join("b"));
    let mut f = fs.create(&a).unwrap();
    f.append(b"1").unwrap();
    f.sync().unwrap();
    fs.sync_dir(&dir()).unwrap();
    let process = fs.clone();
    process.rename(&a, &b).unwrap();
    fs.crash(None);
    assert!(process.rename(&a, &b).is_err());
    assert!(process.remove_file(&a).is_err());
    assert!(process.create(&dir().join("c")).is_err());
    assert!(process.sync_dir(&dir()).is_err());
    assert!(process.list_dir(&dir()).is_err());
    assert!(!process.exists(&a));
    assert!(fs.exists(&a) && !fs.exists(&b));
    let next = fs.clone();
    next.rename(&a, &b).unwrap();
    next.sync_dir(&dir()).unwrap();
    fs.crash(None);
    assert!(!fs.exists(&a) && fs.exists(&b));
}
