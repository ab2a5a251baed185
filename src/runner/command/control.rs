//! A forking program's control channel: its stdin is one end of a `SOCK_SEQPACKET` socket pair,
//! so that each message (a JSON line: a trial, a stop, a worker) arrives whole, and a message can
//! carry open files (`SCM_RIGHTS`): the input and output of a worker's server forked from the
//! program (see [`super::shared`]).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Tune's end of a program's control channel.
pub struct Control(OwnedFd);

impl Control {
    /// A connected pair: tune's end, and the program's (its stdin).
    pub fn pair() -> io::Result<(Control, OwnedFd)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: socketpair writes two descriptors into `fds`, which are ours alone then.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned nowhere else.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((Control(ours), theirs))
    }

    /// Sends `msg` as one message, with `files` (copies of them, which the receiver owns then).
    /// A program that is gone gives an error (`EPIPE`), never a signal.
    pub fn send(&self, msg: &[u8], files: &[&OwnedFd]) -> io::Result<()> {
        let fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
        let bytes = std::mem::size_of_val(&fds[..]);
        // SAFETY: CMSG_SPACE is arithmetic.
        let space = unsafe { libc::CMSG_SPACE(bytes as u32) } as usize;
        // u64s: the control buffer aligned as a cmsghdr wants.
        let mut cbuf = vec![0u64; space.div_ceil(8)];
        let mut iov = libc::iovec {
            iov_base: msg.as_ptr() as *mut libc::c_void,
            iov_len: msg.len(),
        };
        // SAFETY: a zeroed msghdr is valid; its pointers are set to live buffers below.
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        if !fds.is_empty() {
            hdr.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            hdr.msg_controllen = space as _;
            // SAFETY: the control buffer holds one cmsghdr with room for `bytes` of data.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&hdr);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(bytes as u32) as _;
                std::ptr::copy_nonoverlapping(fds.as_ptr() as *const u8, libc::CMSG_DATA(c), bytes);
            }
        }
        // SAFETY: `hdr` points to `iov` and `cbuf`, alive for the call.
        let n = unsafe { libc::sendmsg(self.0.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL) };
        match n {
            n if n < 0 => Err(io::Error::last_os_error()),
            n if n as usize != msg.len() => Err(io::Error::other("a message was cut")),
            _ => Ok(()),
        }
    }
}

/// A pipe, both ends closed on exec: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, which are ours alone then.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just created and are owned nowhere else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A message arrives whole with the files it carries: what is written to the file received
    /// comes out of the pipe this end kept.
    #[test]
    fn a_message_carries_its_files() {
        let (ours, theirs) = Control::pair().unwrap();
        let (r, w) = pipe().unwrap();
        ours.send(b"{\"worker\": 1}\n", &[&w]).unwrap();
        drop(w);
        let mut buf = [0u8; 64];
        let mut cbuf = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        hdr.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = unsafe { libc::recvmsg(theirs.as_raw_fd(), &mut hdr, 0) };
        assert_eq!(&buf[..n as usize], b"{\"worker\": 1}\n");
        let got = unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            assert_eq!((*c).cmsg_type, libc::SCM_RIGHTS);
            std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd)
        };
        let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(got) });
        std::io::Write::write_all(&mut f, b"through").unwrap();
        drop(f);
        let mut s = String::new();
        std::fs::File::from(r).read_to_string(&mut s).unwrap();
        assert_eq!(s, "through");
        drop(theirs);
        assert!(ours.send(b"x", &[]).is_err(), "a closed peer is an error");
    }
}
