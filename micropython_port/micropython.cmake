# umqtt-native as a MicroPython user C module, for cmake-based ports (esp32, rp2).
#
#   make -C ports/esp32 USER_C_MODULES=<repo>/micropython_port/micropython.cmake
#
# Builds the Rust engine with cargo for the port's CPU (the row of
# rust-targets.txt picked by IDF_TARGET or PICO_PLATFORM, or UMQTT_RUST_KEY /
# UMQTT_RUST_TARGET), links the staticlib and compiles the C shims in c_glue/.

get_filename_component(UMQTT_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
set(UMQTT_C_DIR ${UMQTT_ROOT}/c_glue)

# ---- the Rust target, from the one table ---------------------------------
if(NOT UMQTT_RUST_TARGET)
    if(NOT UMQTT_RUST_KEY)
        if(IDF_TARGET)
            set(UMQTT_RUST_KEY ${IDF_TARGET})
        elseif(PICO_PLATFORM MATCHES "^rp2350-riscv")
            set(UMQTT_RUST_KEY rp2350-riscv)
        elseif(PICO_PLATFORM MATCHES "^rp2350")
            set(UMQTT_RUST_KEY rp2350)
        elseif(PICO_PLATFORM)
            set(UMQTT_RUST_KEY ${PICO_PLATFORM})
        else()
            set(UMQTT_RUST_KEY host)
        endif()
    endif()
    file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/rust-targets.txt UMQTT_ROW REGEX "^${UMQTT_RUST_KEY}[ \t]")
    if(NOT UMQTT_ROW)
        message(FATAL_ERROR "umqtt: no Rust target for '${UMQTT_RUST_KEY}' in rust-targets.txt; set UMQTT_RUST_TARGET")
    endif()
    string(REGEX MATCHALL "[^ \t]+" UMQTT_ROW "${UMQTT_ROW}")
    list(GET UMQTT_ROW 1 UMQTT_RUST_TARGET)
    list(LENGTH UMQTT_ROW UMQTT_ROW_LEN)
    if(UMQTT_ROW_LEN GREATER 2)
        list(GET UMQTT_ROW 2 UMQTT_RUST_TOOLCHAIN)
    endif()
endif()
if(UMQTT_RUST_TARGET STREQUAL "host")
    execute_process(COMMAND rustc -vV OUTPUT_VARIABLE UMQTT_RUSTC_INFO)
    string(REGEX MATCH "host: ([^\n]+)" _ "${UMQTT_RUSTC_INFO}")
    set(UMQTT_RUST_TARGET ${CMAKE_MATCH_1})
endif()
message("umqtt: Rust target ${UMQTT_RUST_TARGET}")

# ---- cargo ---------------------------------------------------------------
# Cargo runs on every build and decides itself what to rebuild; its target dir
# is in this build, apart from the one `cargo test` uses.
set(UMQTT_CARGO_TARGET_DIR ${CMAKE_BINARY_DIR}/umqtt-cargo)
set(UMQTT_LIB ${UMQTT_CARGO_TARGET_DIR}/${UMQTT_RUST_TARGET}/release/libumqtt_native.a)
set(UMQTT_CARGO cargo)
if(UMQTT_RUST_TOOLCHAIN)
    list(APPEND UMQTT_CARGO +${UMQTT_RUST_TOOLCHAIN})
endif()
add_custom_target(umqtt_cargo
    COMMAND ${CMAKE_COMMAND} -E env CARGO_TARGET_DIR=${UMQTT_CARGO_TARGET_DIR}
        ${UMQTT_CARGO} build --release --lib --quiet
        --manifest-path ${UMQTT_ROOT}/Cargo.toml --target ${UMQTT_RUST_TARGET}
    BYPRODUCTS ${UMQTT_LIB}
    COMMENT "Building umqtt-native (Rust) for ${UMQTT_RUST_TARGET}"
    VERBATIM)
add_library(umqtt_native STATIC IMPORTED GLOBAL)
set_target_properties(umqtt_native PROPERTIES IMPORTED_LOCATION ${UMQTT_LIB})
add_dependencies(umqtt_native umqtt_cargo)

# ---- the user C module ---------------------------------------------------
add_library(usermod_umqtt INTERFACE)
target_sources(usermod_umqtt INTERFACE
    ${UMQTT_C_DIR}/modumqtt.c
    ${UMQTT_C_DIR}/umqtt_engine.c
    ${UMQTT_C_DIR}/umqtt_io.c
    ${UMQTT_C_DIR}/umqtt_socket.c
    ${UMQTT_C_DIR}/umqtt_errors.c
    ${UMQTT_C_DIR}/umqtt_args.c
)
target_include_directories(usermod_umqtt INTERFACE ${UMQTT_C_DIR})
# `umqtt.simple` is a built-in submodule; `umqtt.robust` (frozen, see
# manifest.py) is stored on the built-in `umqtt` through attribute delegation.
target_compile_definitions(usermod_umqtt INTERFACE
    MICROPY_MODULE_BUILTIN_SUBPACKAGES=1
    MICROPY_MODULE_ATTR_DELEGATION=1
)
target_link_libraries(usermod_umqtt INTERFACE umqtt_native)
target_link_libraries(usermod INTERFACE usermod_umqtt)
