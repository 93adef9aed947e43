# The engine's C ABI functions (c_glue/umqtt_native.h) the shims call, without their umqtt_
# prefix: what a link must keep of the Rust staticlib (micropython.mk, natmod/Makefile).
UMQTT_SYMBOLS := client_size client_align client_init connect adopt publish_message subscribe unsubscribe \
	await abandon ping wait_msg ack buffered_packet disconnect reset is_connected last_packet_id error_detail error_message \
	step_connect step_resend step_publish step_subscribe step_unsubscribe step_ping step_disconnect step_ack \
	step_output step_written step_input step_received step_event step_status step_tick
