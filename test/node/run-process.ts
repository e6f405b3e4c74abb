/**
 * Run a Node process to completion, as a user runs a command: stdout and
 * stderr collected, DEBUG off, killed after `timeout`.
 */
import { spawn } from 'node:child_process'

export interface ProcessResult { status: number | null, stdout: string, stderr: string }

/** `args` follow the node binary (e.g. ['--import', 'tsx', 'cli/main.ts', 'get', link, key]). */
export async function runProcess (args: string[], options: { env?: Record<string, string>, timeout?: number } = {}): Promise<ProcessResult> {
  const child = spawn(process.execPath, args, { env: { ...process.env, DEBUG: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 60_000)
  const status = await new Promise<number | null>(resolve => child.once('close', resolve))
  clearTimeout(timer)
  return { status, stdout, stderr }
}

/** The CLI from its TypeScript sources, one process per command. */
export async function runCli (args: string[], options: { timeout?: number } = {}): Promise<ProcessResult> {
  return runProcess(['--import', 'tsx', 'cli/main.ts', ...args], options)
}
