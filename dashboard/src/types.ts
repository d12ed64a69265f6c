// Shapes of the statistics API's JSON (functions/stats-api/openapi.yaml), camelCase as served.

export type ImportStatus = 'running' | 'succeeded' | 'failed' | 'rejected';

export interface Import {
  importId: number;
  executionName: string | null;
  status: ImportStatus;
  route: 'map' | 'bulk' | null;
  sourceBucket: string;
  sourceKey: string;
  asOf: string;
  attempt: number;
  claimedAt: string;
  finishedAt: string | null;
  rowsTotal: number | null;
  rowsApplied: number | null;
  rowErrors: number | null;
}

export interface ImportsPage {
  items: Import[];
  nextCursor: string | null;
}

export interface ImportError {
  code: string;
  severity: string;
  stage: string;
  line: number | null;
  userId: string | null;
  message: string;
  timestamp: string;
}

export interface ImportDetail extends Import {
  errorsByCode: Record<string, number>;
  errorsComplete: boolean;
  firstErrors: ImportError[];
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
export type StateStatus = 'running' | 'succeeded' | 'failed' | 'timed_out' | 'aborted';

export interface TimelineState {
  name: string;
  enteredAt: string;
  seconds: number | null;
  status: StateStatus;
  error: string | null;
}

export interface Timeline {
  executionName: string;
  status: ExecutionStatus;
  startedAt: string;
  stoppedAt: string | null;
  states: TimelineState[];
}

export interface ImportRef {
  importId: number;
  executionName: string | null;
  sourceBucket: string;
  sourceKey: string;
}

export interface UserStats {
  userId: string;
  loginCount: number;
  postCount: number;
  asOf: string | null;
  lastUpdated: string | null;
  import: ImportRef | null;
}

export interface Change {
  executionName: string;
  importId: number;
  changedAt: string;
  asOf: string;
  oldLoginCount: number | null;
  newLoginCount: number;
  oldPostCount: number | null;
  newPostCount: number;
  line: number | null;
}

export interface HistoryPage {
  userId: string;
  items: Change[];
  nextCursor: string | null;
}

export interface Health {
  status: string;
  database: string;
}
