// SPDX-License-Identifier: GPL-2.0

//! Bad input to the ioctl and the debugfs control file is rejected with the
//! right errno, never an oops.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use userspace_test::addons::{control_write, Dev, Query, DEBUGFS, IOC_QUERY, QUERY_CREATE};
use userspace_test::Module;

#[test]
fn bad_ioctls_and_writes_are_rejected() {
    let _m = Module::load(&[]).expect("insmod");
    let dev = Dev::open();
    let file = File::open("/proc/self/exe").expect("a regular file");
    let fd = file.as_raw_fd();

    // Invalid file descriptors.
    assert_eq!(dev.query(-1, false), Err(libc::EBADF));
    assert_eq!(dev.query(100_000, true), Err(libc::EBADF));
    // Wrong file types: pipe, socket, eventfd, the device itself.
    let mut p = [0; 2];
    // SAFETY: valid array for two fds.
    assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
    assert_eq!(dev.query(p[0], true), Err(libc::EINVAL));
    // SAFETY: no pointer arguments.
    let s = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    assert!(s >= 0);
    assert_eq!(dev.query(s, true), Err(libc::EINVAL));
    // SAFETY: no pointer arguments.
    let e = unsafe { libc::eventfd(0, 0) };
    assert!(e >= 0);
    assert_eq!(dev.query(e, true), Err(libc::EINVAL));
    let devf = File::open(userspace_test::addons::DEV).unwrap();
    assert_eq!(dev.query(devf.as_raw_fd(), true), Err(libc::EINVAL));
    // Unknown flags.
    assert_eq!(dev.query_flags(fd, 0x2), Err(libc::EINVAL));
    assert_eq!(
        dev.query_flags(fd, QUERY_CREATE | 0x8000_0000),
        Err(libc::EINVAL)
    );
    // Unknown ioctl commands, including the right number with a wrong size.
    let mut q = Query {
        fd,
        ..Default::default()
    };
    let qp = &mut q as *mut Query as usize;
    assert_eq!(dev.ioctl_raw(0x1234, qp), Err(libc::ENOTTY));
    assert_eq!(dev.ioctl_raw(IOC_QUERY + (1 << 16), qp), Err(libc::ENOTTY));
    assert_eq!(dev.ioctl_raw(libc::FIONREAD, qp), Err(libc::ENOTTY));
    // Bad user pointers.
    assert_eq!(dev.ioctl_raw(IOC_QUERY, 0), Err(libc::EFAULT));
    assert_eq!(dev.ioctl_raw(IOC_QUERY, 16), Err(libc::EFAULT));
    // Nothing was created by any of that.
    assert_eq!(dev.query(fd, false).unwrap().present, 0);

    // The control file: garbage, empty, oversize and binary writes.
    assert_eq!(control_write(b"bogus"), Err(libc::EINVAL));
    assert_eq!(control_write(b"selfcheck extra"), Err(libc::EINVAL));
    assert_eq!(control_write(&[0xff, 0x00, 0x17]), Err(libc::EINVAL));
    assert_eq!(control_write(&vec![b'a'; 4096]), Err(libc::EINVAL));
    assert_eq!(control_write(&vec![b'a'; 1 << 20]), Err(libc::EINVAL));
    assert_eq!(control_write(b"selfcheck\n"), Ok(()));
    // Read-only files refuse writes.
    assert!(fs::write(format!("{DEBUGFS}/stats"), "x").is_err());
    // SAFETY: closing fds we own.
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
        libc::close(s);
        libc::close(e);
    }
}
