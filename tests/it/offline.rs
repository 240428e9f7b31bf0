//! The offline guarantee: `generate` and `doctor` work inside a network namespace with no
//! interfaces up (`unshare -n`; CI runs as root).

use std::process::Command;

use crate::common::{bin, models_dir, stderr, stdout};

#[test]
fn generate_and_doctor_work_without_a_network() {
    let home = tempfile::tempdir().unwrap();
    let probe = Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .expect("unshare (util-linux) is installed");
    assert!(
        probe.status.success(),
        "unshare -n needs root or user namespaces: {}",
        stderr(&probe)
    );
    let isolated = |args: &[&str]| {
        Command::new("unshare")
            .arg("-n")
            .arg(bin())
            .args(args)
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("STARLING_MODELS_DIR", models_dir())
            .output()
            .unwrap()
    };
    let generated = isolated(&[
        "generate",
        "Say hello",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
    ]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    assert!(!stdout(&generated).trim().is_empty());
    let doctor = isolated(&["doctor"]);
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "{}{}",
        stdout(&doctor),
        stderr(&doctor)
    );
}
