"""The ids of the key-result table's rows, and the row of each id, in a few bytes a row.

At a million key results, a list of id strings (80 bytes each for a uuid), a dict from id to
row number (about 38 bytes an entry) and the row numbers as int objects (32 bytes each) cost
about 160 bytes a key result: a third of the graph. :class:`IdColumn` holds a uuid id (the
ids the goals service gives out: 36 characters, lowercase hex) as its 16 bytes in one
``bytearray``, any other id as itself, and finds a row by id through an open-addressed table
of row numbers (an ``array`` of 4-byte slots, at most half full): 29 to 41 bytes a row.

The slots are probed from Python's own (salted) hash of the packed id, so ids chosen to
collide cost no more than with a dict.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

_FREE, _PACKED, _OTHER = 0, 1, 2  # what a row holds
_EMPTY, _GONE = 0, -1  # a slot never used, and one whose id was removed; else row + 1
_MIN_SLOTS = 8
#: Ids remembered as text both ways (a batch asks for the same few ids again and again: a
#: packed id is formatted in ~1 µs and parsed in ~0.5 µs); forgotten all at once when full.
RECENT_IDS = 8192


def _key(id_: str) -> bytes | str:
    """What the column holds for ``id_``: its 16 bytes if it is a uuid as written by the
    goals service (lowercase hex, hyphens at 8, 13, 18 and 23), else the id itself."""
    if len(id_) == 36 and id_[8] == id_[13] == id_[18] == id_[23] == "-":
        hexed = id_.replace("-", "")
        if len(hexed) == 32:
            try:
                packed = bytes.fromhex(hexed)
            except ValueError:
                return id_
            if packed.hex() == hexed:  # not upper case, no white space between the bytes
                return packed
    return id_


def _text(packed: bytes) -> str:
    hexed = packed.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


class IdColumn:
    """The id of each row by number ("" for a free row), and the number of each id held.

    Rows are added at the end (:meth:`extend`, free until given an id); an id is given to a
    free row (:meth:`put`) and taken back (:meth:`clear`).
    """

    def __init__(self) -> None:
        self._kinds = bytearray()  # _FREE, _PACKED or _OTHER, by row
        self._packed = bytearray()  # 16 bytes a row; those of a row not _PACKED unused
        self._others: dict[int, str] = {}  # the id of each _OTHER row
        self._slots = array("i", bytes(4 * _MIN_SLOTS))
        self._held = 0  # ids held
        self._used_slots = 0  # slots not _EMPTY (held or _GONE)
        # ids lately read or found, by row and by text (each the other's inverse; held)
        self._recent_texts: dict[int, str] = {}
        self._recent_numbers: dict[str, int] = {}

    def __len__(self) -> int:
        """The number of rows, free or not."""
        return len(self._kinds)

    @property
    def held(self) -> int:
        return self._held

    def __getitem__(self, number: int) -> str:
        text = self._recent_texts.get(number)
        if text is not None:
            return text
        kind = self._kinds[number]
        if kind == _PACKED:
            start = 16 * number
            text = _text(bytes(self._packed[start:start + 16]))
            self._remember(number, text)
            return text
        if kind == _OTHER:
            return self._others[number]
        return ""

    def holds(self, number: int) -> bool:
        """Whether row ``number`` holds an id (is not free)."""
        return self._kinds[number] != _FREE

    def extend(self, count: int) -> None:
        """``count`` more rows, free."""
        self._kinds.extend(bytes(count))
        self._packed.extend(bytes(16 * count))
        self._grow_for(self._held + count)

    def numbers(self) -> Iterator[int]:
        """The rows that hold an id, in order."""
        kinds = self._kinds
        return (number for number in range(len(kinds)) if kinds[number])

    def number(self, id_: str) -> int | None:
        """The row that holds ``id_``, or None."""
        number = self._recent_numbers.get(id_)
        if number is not None:
            return number
        key = _key(id_)
        if type(key) is not bytes:
            index = self._find(key)
            return None if index is None else self._slots[index] - 1
        slots, kinds, packed = self._slots, self._kinds, self._packed
        mask = len(slots) - 1
        index = hash(key) & mask
        while (slot := slots[index]) != _EMPTY:  # _find, for a packed id (the hot path)
            if slot > 0:
                start = 16 * slot - 16
                if packed[start:start + 16] == key and kinds[slot - 1] == _PACKED:
                    self._remember(slot - 1, id_)
                    return slot - 1
            index = (index + 1) & mask
        return None

    def __contains__(self, id_: str) -> bool:
        return self.number(id_) is not None

    def put(self, number: int, id_: str) -> None:
        """Give ``id_`` to the free row ``number``; ValueError if it is held already."""
        self._put(number, id_, remember=True)

    def put_many(self, first: int, ids: Iterable[str]) -> None:
        """:meth:`put` each id in turn, from row ``first`` on (a load: none remembered)."""
        for number, id_ in enumerate(ids, first):
            self._put(number, id_, remember=False)

    def _put(self, number: int, id_: str, remember: bool) -> None:
        if self._kinds[number] != _FREE:
            raise ValueError(f"row {number} holds {self[number]} already")
        self._grow_for(self._held + 1)
        key = _key(id_)
        slots = self._slots
        mask = len(slots) - 1
        index = hash(key) & mask
        spare = -1  # the first slot of a removed id on the way: reused
        while (slot := slots[index]) != _EMPTY:
            if slot == _GONE:
                if spare < 0:
                    spare = index
            elif self._holds(slot - 1, key):
                raise ValueError(f"{id_} is held already")
            index = (index + 1) & mask
        if spare < 0:
            spare = index
            self._used_slots += 1
        slots[spare] = number + 1
        self._store(number, key)
        self._held += 1
        if remember and type(key) is bytes:
            self._remember(number, id_)

    def clear(self, number: int) -> None:
        """Free row ``number``; its id is no longer held."""
        kind = self._kinds[number]
        if kind == _FREE:
            return
        key: bytes | str = (bytes(self._packed[16 * number:16 * number + 16])
                            if kind == _PACKED else self._others[number])
        index = self._find(key)
        assert index is not None, "a held id has its slot"
        self._slots[index] = _GONE
        self._others.pop(number, None)
        text = self._recent_texts.pop(number, None)
        if text is not None:
            del self._recent_numbers[text]
        self._kinds[number] = _FREE
        self._held -= 1

    def _remember(self, number: int, text: str) -> None:
        """``text`` is the id row ``number`` holds: remember it both ways."""
        if len(self._recent_texts) >= RECENT_IDS:
            self._recent_texts.clear()
            self._recent_numbers.clear()
        self._recent_texts[number] = text
        self._recent_numbers[text] = number

    # -- the slots ---------------------------------------------------------------------------

    def _holds(self, number: int, key: bytes | str) -> bool:
        kind = self._kinds[number]
        if kind == _PACKED:
            return isinstance(key, bytes) and self._packed[16 * number:16 * number + 16] == key
        return kind == _OTHER and self._others[number] == key

    def _find(self, key: bytes | str) -> int | None:
        """The slot of ``key``, or None."""
        slots = self._slots
        mask = len(slots) - 1
        index = hash(key) & mask
        while True:
            slot = slots[index]
            if slot == _EMPTY:
                return None
            if slot != _GONE and self._holds(slot - 1, key):
                return index
            index = (index + 1) & mask

    def _store(self, number: int, key: bytes | str) -> None:
        if isinstance(key, bytes):
            self._packed[16 * number:16 * number + 16] = key
            self._kinds[number] = _PACKED
        else:
            self._others[number] = key
            self._kinds[number] = _OTHER

    def _grow_for(self, held: int) -> None:
        """Slots for ``held`` ids (and the removed ids' marks) at most half full, made anew
        without the marks when they would be fuller: at most a third full then, so at least
        a sixth of them are used again before the next time (made anew at a half, ids
        removed and added in turn would make them anew at almost every add)."""
        if 2 * (self._used_slots + held - self._held) <= len(self._slots):
            return
        size = _MIN_SLOTS
        while size < 3 * held:
            size *= 2
        slots = self._slots = array("i", bytes(4 * size))
        self._used_slots = self._held
        mask = size - 1
        packed, kinds, others = self._packed, self._kinds, self._others
        for number in self.numbers():
            index = hash(bytes(packed[16 * number:16 * number + 16]) if kinds[number] == _PACKED
                         else others[number]) & mask
            while slots[index] != _EMPTY:
                index = (index + 1) & mask
            slots[index] = number + 1
