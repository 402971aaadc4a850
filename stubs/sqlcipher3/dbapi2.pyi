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
    connect as connect,
)
