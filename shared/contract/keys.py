"""The forms of the keys every service and the console read: departments and cycles.

Defined here once: the goals service makes keys of these forms, the other services and
the console refuse anything else before asking for it. Match with ``fullmatch`` (``$``
alone lets ``"sales\\n"`` through); the ``^...$`` text is also the OpenAPI ``pattern``.
Character classes are written out (``[a-z]``, ``[0-9]``): ``str.islower`` and
``str.isdigit`` take ``é``, ``µ``, ``²`` or Arabic-Indic digits as well.
"""

from __future__ import annotations

import re

#: 2 to 40 lower-case ASCII letters, digits or hyphens, starting with a letter: ``sales``.
DEPARTMENT_KEY = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
DEPARTMENT_KEY_FORM = ("2 to 40 lower-case letters, digits or hyphens, starting with a "
                       "letter")
#: 1 to 40 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit: ``2026-Q4``.
CYCLE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
