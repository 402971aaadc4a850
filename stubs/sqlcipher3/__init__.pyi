# Type stub: sqlcipher3 is the DB-API 2 module of SQLCipher with the sqlite3 module's
# interface (it is built from the same source), so its types are sqlite3's.
from sqlite3 import (
    Connection as Connection,
)
from sqlite3 import (
    Cursor as Cursor,
)
from sqlite3 import (
    DatabaseError as DatabaseError,
)
from sqlite3 import (
    Error as Error,
)
from sqlite3 import (
    IntegrityError as IntegrityError,
)
from sqlite3 import (
    OperationalError as OperationalError,
)
from sqlite3 import (
    Row as Row,
)
from sqlite3 import (
    connect as connect,
)
from sqlite3 import sqlite_version as sqlite_version

from . import dbapi2 as dbapi2
