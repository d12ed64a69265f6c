"""Reads the data lake's Parquet files with readers that share no code with the writer.

    read.py files FILE...        pyarrow: each file's schema, row groups and rows, as JSON
    read.py query ROOT SQL       DuckDB: SQL over ROOT/user_statistics/dt=*/*.parquet as the
                                 table user_statistics (dt a string partition, as in Glue)

Timestamps are printed as microseconds since the epoch in UTC, so that they compare exactly.
"""

import datetime
import json
import sys

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise SystemExit(f"a timestamp without a time zone: {value!r}")
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value
    return str(value)


def files(paths):
    import pyarrow.parquet as pq

    out = []
    for path in paths:
        parquet = pq.ParquetFile(path)
        metadata = parquet.metadata
        table = parquet.read()
        out.append(
            {
                "path": path,
                "rowGroups": metadata.num_row_groups,
                "rowGroupRows": [
                    metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)
                ],
                "compression": sorted(
                    {
                        metadata.row_group(i).column(j).compression
                        for i in range(metadata.num_row_groups)
                        for j in range(metadata.num_columns)
                    }
                ),
                "schema": [[field.name, str(field.type), field.nullable] for field in table.schema],
                "rows": [[plain(v) for v in row.values()] for row in table.to_pylist()],
            }
        )
    print(json.dumps(out, ensure_ascii=False))


def query(root, sql):
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    pattern = f"{root.rstrip('/')}/user_statistics/*/*.parquet".replace("'", "''")
    connection.execute(
        f"CREATE VIEW user_statistics AS SELECT * FROM read_parquet('{pattern}', "
        "hive_partitioning = true, hive_types = {'dt': 'VARCHAR'})"
    )
    result = connection.execute(sql)
    columns = [d[0] for d in result.description]
    rows = [[plain(v) for v in row] for row in result.fetchall()]
    print(json.dumps({"columns": columns, "rows": rows}, ensure_ascii=False))


def main(argv):
    if len(argv) >= 2 and argv[1] == "files":
        files(argv[2:])
    elif len(argv) == 4 and argv[1] == "query":
        query(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
