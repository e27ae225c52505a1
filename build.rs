//! Says loudly when `nasm` is missing: OpenH264 and mozjpeg then build
//! without their assembly, silently, and H.264 encodes about 2.4 times
//! slower. The sender repeats the warning at start (`CAMWIRE_NASM`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PATH");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let wants_nasm = arch == "x86_64" || arch == "x86";
    let has_nasm = Command::new("nasm")
        .arg("-v")
        .output()
        .is_ok_and(|out| out.status.success());
    let slow = wants_nasm && !has_nasm;
    if slow {
        println!(
            "cargo:warning=nasm is not installed: OpenH264 and mozjpeg are built without \
             their assembly and H.264 encodes about 2.4x slower. Run scripts/setup.sh \
             (or apt install nasm), then cargo clean -p openh264-sys2 -p mozjpeg-sys and build again."
        );
    }
    println!(
        "cargo:rustc-env=CAMWIRE_NASM={}",
        if slow { "missing" } else { "ok" }
    );
}
