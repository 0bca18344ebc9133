/** A started service: where it listens, and how to stop it (drain, then close). */
export interface RunningService {
  readonly name: string;
  readonly ports: Readonly<Record<string, number>>;
  close(): Promise<void>;
}
