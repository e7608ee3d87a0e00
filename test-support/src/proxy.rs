//! A TCP relay on 127.0.0.1 in front of a real server, whose connections a
//! test can cut at a moment of its choosing: to the client, a server that
//! died mid-conversation, while the real server keeps serving every other
//! test.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Relay {
    pub port: u16,
    cut: watch::Sender<u64>,
    /// Bytes the server may still send before every connection is cut;
    /// negative when no cut is armed.
    budget: Arc<AtomicI64>,
}

impl Relay {
    /// Starts relaying connections on a free port to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watcher) = watch::channel(0u64);
        let budget = Arc::new(AtomicI64::new(-1));
        let relay = Relay {
            port,
            cut: cut.clone(),
            budget: budget.clone(),
        };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut watcher = watcher.clone();
                watcher.borrow_and_update();
                let (cut, budget) = (cut.clone(), budget.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                    let downstream = async {
                        let mut buffer = vec![0u8; 4096];
                        loop {
                            let n = server_read.read(&mut buffer).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            let mut n = n;
                            let left = budget.load(Ordering::SeqCst);
                            if left >= 0 {
                                n = n.min(left as usize);
                                budget.fetch_sub(n as i64, Ordering::SeqCst);
                            }
                            client_write.write_all(&buffer[..n]).await?;
                            if left >= 0 && left as usize <= n {
                                // The budget is spent halfway through an
                                // answer: the "server" dies now.
                                budget.store(-1, Ordering::SeqCst);
                                cut.send_modify(|generation| *generation += 1);
                                return Ok(());
                            }
                        }
                    };
                    // Dropping both streams closes them: the client sees
                    // its connection reset mid-operation.
                    tokio::select! {
                        _ = upstream => {}
                        _ = downstream => {}
                        _ = watcher.changed() => {}
                    }
                });
            }
        });
        relay
    }

    /// Drops every connection open now; new ones are relayed again.
    pub fn cut(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Cuts every connection once the server has sent `bytes` more bytes
    /// to the client (in the middle of an answer, for a large answer).
    pub fn cut_after(&self, bytes: i64) {
        self.budget.store(bytes, Ordering::SeqCst);
    }
}
