#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| umqtt_native_fuzz::client::run(data));
