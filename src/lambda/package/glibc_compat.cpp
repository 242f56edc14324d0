// glibc 2.35/2.36 functions that the static libgcc and libstdc++ of the build machine (Debian 12, glibc
// 2.36) call, defined in the Lambda binary itself so that it needs nothing newer than GLIBC_2.34
// (provided.al2023). Linked only into `bootstrap` (CMakeLists.txt, BA_LAMBDA_PACKAGE); docs/lambda.md.
//
// A definition in the executable wins over the shared libraries' at link time, so the linker records
// no versioned reference to glibc's: scripts/check-lambda-zip.sh proves it on the packaged binary.
//
//  _dl_find_object (GLIBC_2.35): libgcc's unwinder (unwind-dw2-fde-dip.c, GCC 12) asks it for the
//    PT_GNU_EH_FRAME of the object containing a PC, and when it is compiled against glibc >= 2.35 it has
//    no fallback: a non-zero answer means "no FDE" and every throw would std::terminate. So this is a
//    real implementation over dl_iterate_phdr (GLIBC_2.2.5): the object whose PT_LOAD segment holds the
//    address, its mapping bounds and its PT_GNU_EH_FRAME address (x86-64 has no dlfo_eh_dbase).
//  arc4random, arc4random_buf, arc4random_uniform (GLIBC_2.36): std::random_device's default source in
//    libstdc++; here over getrandom(2) (GLIBC_2.25), which is what glibc 2.36 itself uses.
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace {

struct FindObject {
  ElfW(Addr) pc = 0;
  dl_find_object* out = nullptr;
  bool found = false;
};

int find_object_callback(dl_phdr_info* info, std::size_t, void* data) {
  auto* f = static_cast<FindObject*>(data);
  bool contains = false;
  ElfW(Addr) lo = ~ElfW(Addr){0}, hi = 0;
  const void* eh_frame = nullptr;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD) {
      const ElfW(Addr) start = info->dlpi_addr + ph.p_vaddr;
      const ElfW(Addr) end = start + ph.p_memsz;
      if (start < lo) lo = start;
      if (end > hi) hi = end;
      if (f->pc >= start && f->pc < end) contains = true;
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      eh_frame = reinterpret_cast<const void*>(info->dlpi_addr + ph.p_vaddr);
    }
  }
  if (!contains) return 0;
  f->out->dlfo_flags = 0;
  f->out->dlfo_map_start = reinterpret_cast<void*>(lo);
  f->out->dlfo_map_end = reinterpret_cast<void*>(hi);
  f->out->dlfo_link_map = nullptr;  // not read by the unwinder; dl_iterate_phdr does not give it
  f->out->dlfo_eh_frame = const_cast<void*>(eh_frame);
  f->found = true;
  return 1;  // stop iterating
}

void fill_random(void* buffer, std::size_t size) {
  auto* p = static_cast<unsigned char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::getrandom(p, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // As glibc's own arc4random: without randomness there is no safe answer.
      std::fputs("bedrock-agent: getrandom failed\n", stderr);
      std::abort();
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

extern "C" {

int _dl_find_object(void* address, dl_find_object* result) noexcept {
  FindObject f{.pc = reinterpret_cast<ElfW(Addr)>(address), .out = result};
  ::dl_iterate_phdr(find_object_callback, &f);
  return f.found ? 0 : -1;
}

std::uint32_t arc4random() noexcept {
  std::uint32_t v;
  fill_random(&v, sizeof v);
  return v;
}

void arc4random_buf(void* buffer, std::size_t size) noexcept { fill_random(buffer, size); }

std::uint32_t arc4random_uniform(std::uint32_t upper_bound) noexcept {
  if (upper_bound < 2) return 0;
  // Reject the low values that would bias the modulo: 2^32 mod upper_bound of them.
  const std::uint32_t min = static_cast<std::uint32_t>(-upper_bound) % upper_bound;
  for (;;) {
    const std::uint32_t r = arc4random();
    if (r >= min) return r % upper_bound;
  }
}

}  // extern "C"
