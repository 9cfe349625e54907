# Source this (`. .ci/cross-env.sh`) before `cargo test --target <triple>` for an ARM target.
# cargo takes its runner from .cargo/config.toml, but does not tell the tests which one it
# used; tests that spawn the server binary put CARGO_TARGET_<TRIPLE>_RUNNER in front of it.
# Keep these in step with the runners in .cargo/config.toml.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER="qemu-aarch64"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUNNER="qemu-arm -cpu cortex-a7"
export CARGO_TARGET_ARM_UNKNOWN_LINUX_MUSLEABIHF_RUNNER="qemu-arm -cpu arm1176"
