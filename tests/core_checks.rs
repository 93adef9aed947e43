//! The codec, session and driver checks that qemu/core-test runs on riscv32imc, run on the host:
//! one list of checks (umqtt_testkit), two machines.

/// All of them, in one test: the report names each failing check.
#[test]
fn shared_core_checks_pass_on_the_host() {
    let mut h = umqtt_testkit::Harness::new(String::new());
    umqtt_testkit::run_all(&mut h);
    h.summary();
    let failures: Vec<&str> = h.out.lines().filter(|l| l.contains(" FAIL: ")).collect();
    assert!(failures.is_empty(), "{} of the shared checks failed:\n{}", failures.len(), failures.join("\n"));
    // The image on QEMU runs exactly these; a check that vanished from the list fails here too.
    assert_eq!(h.passed, 122, "number of shared checks");
}
