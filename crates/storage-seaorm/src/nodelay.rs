//! `TCP_NODELAY` on the connections to PostgreSQL and MySQL/MariaDB.
//!
//! sqlx 0.9.0 opens its TCP connections without `TCP_NODELAY`: a regression, reported as
//! sqlx#4335 and fixed by sqlx#4336, which no release carries yet. Without the option,
//! Nagle's algorithm holds the last, partly filled segment of a statement until the
//! server acknowledges the ones before it, and the server delays that acknowledgement by
//! up to 40 ms. A group-commit batch of a few hundred rows fills several segments, so a
//! batch often waited 40 ms for nothing: PostgreSQL over TCP stored 2,603 leads/s at 128
//! connections, against 7,944 over its Unix socket (`docs/benchmarks.md`).
//!
//! sqlx gives no handle on its socket. So, after each new connection, [`set_on_sockets_to`]
//! looks through the process's open file descriptors for TCP sockets connected to the
//! database's port and sets the option on those that lack it. Only this process's
//! connections to the database match, and the option is the one the sqlx fix sets on
//! them. Delete this module when a sqlx release sets it itself.

use std::io;

/// Sets `TCP_NODELAY` on every TCP socket of this process whose peer listens on `port`,
/// and answers how many sockets it changed.
#[cfg(target_os = "linux")]
pub(crate) fn set_on_sockets_to(port: u16) -> io::Result<usize> {
    let mut changed = 0;
    for_each_socket_to(port, |socket| {
        if !socket.tcp_nodelay()? {
            socket.set_tcp_nodelay(true)?;
            changed += 1;
        }
        Ok(())
    })?;
    Ok(changed)
}

/// Calls `f` with each TCP stream socket of this process whose peer listens on `port`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn for_each_socket_to(
    port: u16,
    mut f: impl FnMut(&socket2::SockRef<'_>) -> io::Result<()>,
) -> io::Result<()> {
    use socket2::{SockRef, Type};
    use std::os::fd::{BorrowedFd, RawFd};

    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(raw) = entry?
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is borrowed only for the socket calls here and in `f`,
        // none of which closes, reads or writes it. Should another thread close it
        // meanwhile, the calls fail with EBADF, or query whatever now has the number, and
        // go on only if that too is a TCP stream to the database's port.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let socket = SockRef::from(&fd);
        let to_port = socket
            .peer_addr()
            .ok()
            .and_then(|peer| peer.as_socket())
            .is_some_and(|peer| peer.port() == port);
        if to_port && socket.r#type().is_ok_and(|kind| kind == Type::STREAM) {
            f(&socket)?;
        }
    }
    Ok(())
}

/// Elsewhere there is no `/proc/self/fd` to look through: connections keep sqlx's
/// defaults.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_on_sockets_to(_port: u16) -> io::Result<usize> {
    Ok(0)
}

/// Runs [`set_on_sockets_to`] for a new connection. A failure is logged and does not
/// fail the connection, which works without the option, only slower.
pub(crate) fn after_connect(port: u16) {
    match set_on_sockets_to(port) {
        Ok(changed) => tracing::debug!(port, changed, "TCP_NODELAY set on database sockets"),
        Err(error) => tracing::warn!(port, %error, "could not set TCP_NODELAY on database sockets"),
    }
}

/// The `TCP_NODELAY` setting of each socket of this process to `port`, for tests.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn nodelay_of_sockets_to(port: u16) -> Vec<bool> {
    let mut settings = Vec::new();
    for_each_socket_to(port, |socket| {
        settings.push(socket.tcp_nodelay()?);
        Ok(())
    })
    .unwrap();
    settings
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use socket2::SockRef;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn sets_nodelay_on_sockets_to_the_port_and_no_others() {
        let database = TcpListener::bind("127.0.0.1:0").unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let to_database = TcpStream::connect(database.local_addr().unwrap()).unwrap();
        let to_other = TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert_eq!(
            nodelay_of_sockets_to(database.local_addr().unwrap().port()),
            [false]
        );

        let changed = set_on_sockets_to(database.local_addr().unwrap().port()).unwrap();

        assert_eq!(
            changed, 1,
            "only the socket to the database's port is changed"
        );
        assert!(SockRef::from(&to_database).tcp_nodelay().unwrap());
        assert!(!SockRef::from(&to_other).tcp_nodelay().unwrap());
        assert_eq!(
            set_on_sockets_to(database.local_addr().unwrap().port()).unwrap(),
            0,
            "a socket that has the option is left alone"
        );
    }
}
