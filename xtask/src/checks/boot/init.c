/*
 * thindist boot check: the whole userspace of the test initramfs.
 * Loads the modules the initramfs carries (/m0.ko, /m1.ko, ...) with
 * finit_module(2), writes a marker line with the kernel release and the
 * number of modules loaded to the console (or, when a load fails, a line
 * saying which and why, and no marker), then powers the machine off with
 * the reboot system call. No libc: each architecture's system call
 * instruction and numbers are below.
 */
#define LINUX_REBOOT_MAGIC1 0xfee1deadL
#define LINUX_REBOOT_MAGIC2 672274793L
#define LINUX_REBOOT_CMD_POWER_OFF 0x4321FEDCL

#if defined(__x86_64__)
#define NR_write 1
#define NR_uname 63
#define NR_reboot 169
#define NR_openat 257
#define NR_finit_module 313
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
#elif defined(__aarch64__) || defined(__riscv) || defined(__loongarch64)
/* The generic system call table. */
#define NR_write 64
#define NR_uname 160
#define NR_reboot 142
#define NR_openat 56
#define NR_finit_module 273
#if defined(__aarch64__)
#define SYSCALL "svc 0"
#define NR_REG "x8"
#define A0 "x0"
#define A1 "x1"
#define A2 "x2"
#elif defined(__riscv)
#define SYSCALL "ecall"
#define NR_REG "a7"
#define A0 "a0"
#define A1 "a1"
#define A2 "a2"
#else
#define SYSCALL "syscall 0"
#define NR_REG "$a7"
#define A0 "$a0"
#define A1 "$a1"
#define A2 "$a2"
#endif
static long sys3(long n, long a, long b, long c)
{
	register long rn __asm__(NR_REG) = n;
	register long r0 __asm__(A0) = a;
	register long r1 __asm__(A1) = b;
	register long r2 __asm__(A2) = c;
	__asm__ volatile(SYSCALL : "+r"(r0) : "r"(rn), "r"(r1), "r"(r2) : "memory");
	return r0;
}
#else
#error "no system call convention for this architecture"
#endif

struct utsname {
	char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

/* The compiler may turn loops into calls to these. */
void *memset(void *d, int c, unsigned long n)
{
	volatile char *p = d;
	while (n--)
		*p++ = (char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	volatile char *p = d;
	const char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

static unsigned long append(char *buf, unsigned long at, const char *s)
{
	while (*s && at < 255)
		buf[at++] = *s++;
	return at;
}

static unsigned long append_number(char *buf, unsigned long at, unsigned long v)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < 24);
	while (n && at < 255)
		buf[at++] = digits[--n];
	return at;
}

#define AT_FDCWD (-100L)
#define MAX_MODULES 10

/* Loads /m0.ko, /m1.ko, ... until one is missing. Returns how many loaded,
 * or -1 after writing which one failed and its error. */
static long load_modules(char *line)
{
	static char path[] = "/m0.ko";
	long loaded = 0;

	for (int i = 0; i < MAX_MODULES; i++) {
		path[2] = (char)('0' + i);
		long fd = sys3(NR_openat, AT_FDCWD, (long)path, 0);
		if (fd < 0)
			break;
		long r = sys3(NR_finit_module, fd, (long)"", 0);
		if (r != 0) {
			unsigned long n = append(line, 0, "\nTHINDIST-MODULE-FAILED ");
			n = append(line, n, path);
			n = append(line, n, " errno=");
			n = append_number(line, n, (unsigned long)-r);
			n = append(line, n, "\n");
			sys3(NR_write, 1, (long)line, (long)n);
			return -1;
		}
		loaded++;
	}
	return loaded;
}

void _start(void)
{
	static struct utsname u;
	static char line[256];
	unsigned long n = 0;

	long modules = load_modules(line);

	sys3(NR_uname, (long)&u, 0, 0);
	if (modules >= 0) {
		n = append(line, n, "\nTHINDIST-BOOT-OK release=");
		n = append(line, n, u.release);
		n = append(line, n, " machine=");
		n = append(line, n, u.machine);
		n = append(line, n, " modules=");
		n = append_number(line, n, (unsigned long)modules);
		n = append(line, n, "\n");
		sys3(NR_write, 1, (long)line, (long)n);
	}
	sys3(NR_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF);
	for (;;)
		;
}
