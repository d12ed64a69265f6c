//! Infrastructure definitions: typed environment config, rendering, static validation, diffs and graphs.
