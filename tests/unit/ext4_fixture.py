"""The commands `image build` runs on the 64 MiB GPT + ext4 fixture image, replayed from
their real output on it (tests/fixtures/README.md: imaging/gpt-ext4.*)."""

from __future__ import annotations

from pathlib import Path

PART_START = 1048576
PART_LENGTH = 64994816  # sectors 2048-128990
LOOP = "/dev/loop0"  # what losetup printed when the fixtures were captured
E2FSCK_STDERR = "e2fsck 1.47.0 (5-Feb-2023)\n"


def add_ext4_fixture_commands(fake: object, image: Path) -> None:
    add = fake.add  # type: ignore[attr-defined]
    add(["blkid", "-p", "-o", "export", "-O", str(PART_START), "-S", str(PART_LENGTH),
         str(image)], fixture="imaging/gpt-ext4.blkid.txt")
    add(["losetup", "--read-only", "--find", "--show", "--offset", str(PART_START),
         "--sizelimit", str(PART_LENGTH), str(image)], stdout=LOOP + "\n")
    add(["e2fsck", "-f", "-n", LOOP], fixture="imaging/gpt-ext4.e2fsck.txt",
        stderr=E2FSCK_STDERR)
    add(["partclone.extfs", "-D", "-s", LOOP, "-o", "-", "-L", "/dev/null", "-q",
         f"--offset_domain={PART_START}"], fixture="imaging/gpt-ext4.partclone-extfs-D.txt")
    add(["losetup", "--detach", LOOP])
