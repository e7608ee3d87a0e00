//! WASI for components built by other toolchains, granting nothing.
//!
//! Components from `wasm32-wasip2` Rust, componentize-py or jco import WASI
//! interfaces even when they never touch a file. The host links them with a
//! context that has no preopened directories, no environment variables, no
//! arguments, no stdin, no sockets and no name lookups; stdout and stderr are
//! captured (capped) and end up in the call's log. Clocks and randomness are
//! allowed: they reveal nothing about the host.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// One call's WASI state.
pub struct WasiCall {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiCall {
    /// A context that grants nothing; output is kept up to `max_output` bytes
    /// per stream.
    pub fn new(max_output: usize) -> Self {
        let stdout = MemoryOutputPipe::new(max_output);
        let stderr = MemoryOutputPipe::new(max_output);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }

    /// What the program wrote to stdout and stderr.
    pub fn output(&self) -> (bytes::Bytes, bytes::Bytes) {
        (self.stdout.contents(), self.stderr.contents())
    }
}

impl WasiView for WasiCall {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}
