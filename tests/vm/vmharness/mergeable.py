"""A tiny static x86-64 program that gives KSM something to merge.

Nothing in the initramfs calls madvise(MADV_MERGEABLE), and kernel 6.1
has no prctl to opt a whole process in, so without this KSM never shares
a page and merge_across_nodes can always be changed.  With it, a test
can reproduce the EBUSY that apply-memory's "run=2 first" ordering
exists for.  The program maps 1 MiB of anonymous memory, writes the same
byte to each of its 256 pages, marks it mergeable and sleeps in pause().
"""

import struct

LOAD_ADDRESS = 0x400000
HEADERS_SIZE = 64 + 56  # one ELF header, one program header

# Machine code with the assembly it encodes (Intel syntax).
CODE = [
    (b"\xb8\x09\x00\x00\x00", "mov eax, 9              ; mmap"),
    (b"\x31\xff", "xor edi, edi            ; addr = NULL"),
    (b"\xbe\x00\x00\x10\x00", "mov esi, 0x100000       ; length = 1 MiB"),
    (b"\xba\x03\x00\x00\x00", "mov edx, 3              ; PROT_READ | PROT_WRITE"),
    (b"\x41\xba\x22\x00\x00\x00", "mov r10d, 0x22          ; MAP_PRIVATE | MAP_ANONYMOUS"),
    (b"\x49\xc7\xc0\xff\xff\xff\xff", "mov r8, -1              ; fd"),
    (b"\x45\x31\xc9", "xor r9d, r9d            ; offset"),
    (b"\x0f\x05", "syscall"),
    (b"\x48\x89\xc3", "mov rbx, rax            ; rbx = the mapping"),
    (b"\x31\xc9", "xor ecx, ecx"),
    (b"\xc6\x04\x0b\x5a", "fill: mov byte [rbx+rcx], 0x5a  ; same content in every page"),
    (b"\x48\x81\xc1\x00\x10\x00\x00", "add rcx, 4096"),
    (b"\x48\x81\xf9\x00\x00\x10\x00", "cmp rcx, 0x100000"),
    (b"\x72\xec", "jb fill"),
    (b"\xb8\x1c\x00\x00\x00", "mov eax, 28             ; madvise"),
    (b"\x48\x89\xdf", "mov rdi, rbx"),
    (b"\xbe\x00\x00\x10\x00", "mov esi, 0x100000"),
    (b"\xba\x0c\x00\x00\x00", "mov edx, 12             ; MADV_MERGEABLE"),
    (b"\x0f\x05", "syscall"),
    (b"\xb8\x22\x00\x00\x00", "again: mov eax, 34      ; pause"),
    (b"\x0f\x05", "syscall"),
    (b"\xeb\xf7", "jmp again"),
]


def _elf_header(entry: int) -> bytes:
    """ELF64 header of a little-endian x86-64 static executable."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, 64, 0, 0, 64, 56, 1, 0, 0, 0)


def _program_header(size: int) -> bytes:
    """One PT_LOAD segment, read + execute, mapping the whole file."""
    return struct.pack("<IIQQQQQQ", 1, 5, 0, LOAD_ADDRESS, LOAD_ADDRESS, size, size, 0x1000)


def program() -> bytes:
    """The complete executable file."""
    code = b"".join(chunk for chunk, _ in CODE)
    size = HEADERS_SIZE + len(code)
    return _elf_header(LOAD_ADDRESS + HEADERS_SIZE) + _program_header(size) + code
