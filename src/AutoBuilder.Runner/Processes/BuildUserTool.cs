using System.Diagnostics;
using System.Text;
using AutoBuilder.Core;

namespace AutoBuilder.Runner.Processes;

/// <summary>
/// One system tool (tar, find, ...) to run over the build's tree after its command started: as the build user, with
/// the build's own view (its sandbox, without a network), so that whatever the build planted there — links, FIFOs,
/// odd names — is resolved with the build's rights, never the runner's (docs/SECURITY.md, "The trust boundary").
/// </summary>
public sealed record BuildUserToolRequest
{
    /// <summary>The tool's absolute path (a system tool under /usr, which the sandbox shows read-only) and its arguments.</summary>
    public required IReadOnlyList<string> Command { get; init; }
    /// <summary>Where the tool starts: a folder of the build's (the sandbox binds it at the same path).</summary>
    public required string WorkingDirectory { get; init; }
    /// <summary>bwrap and its options up to "--" (<see cref="Sandbox.Arguments"/>, with no network); null runs the tool unsandboxed.</summary>
    public IReadOnlyList<string>? Sandbox { get; init; }
    /// <summary>The build user (the tool drops to it with setpriv); null keeps the runner's user.</summary>
    public BuildUser? RunAs { get; init; }
    /// <summary>Bytes written to the tool's stdin, which is then closed (a file list, for example); null: an empty stdin.</summary>
    public ReadOnlyMemory<byte>? Input { get; init; }
    public required TimeSpan Timeout { get; init; }
}

/// <summary>How the tool ended; <see cref="Errors"/> is its stderr, bounded and escaped for a log line.</summary>
public sealed record BuildUserToolResult(int ExitCode, string Errors);

/// <summary>
/// Runs a <see cref="BuildUserToolRequest"/> and hands its stdout to the caller as a byte stream, parsed as data. The
/// privileged side never opens a path of the build's itself: it sees only what the tool wrote.
/// </summary>
public static class BuildUserTool
{
    private const string SetprivPath = "/usr/bin/setpriv";
    private const int MaxErrorBytes = 4096;
    /// <summary>What a tool may still write after its reader is done (tar pads its archive to a 10 KiB record).</summary>
    private const int MaxTrailingBytes = 1024 * 1024;

    /// <summary>
    /// Starts the tool, calls <paramref name="readOutput"/> with its stdout and waits for it to end. The tool is killed
    /// when the reader returns early, throws, the timeout passes or the token is cancelled.
    /// </summary>
    /// <exception cref="TimeoutException">The tool did not end within the request's timeout.</exception>
    public static Task<BuildUserToolResult> RunAsync(
        BuildUserToolRequest request,
        Func<Stream, CancellationToken, Task> readOutput,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(readOutput);
        return RunCoreAsync(request, (_, stdout, ct) => readOutput(stdout, ct), ownsInput: false, timeProvider, cancellationToken);
    }

    /// <summary>
    /// As <see cref="RunAsync"/>, for a tool whose input depends on what it wrote first (a listing, then the files
    /// chosen from it): <paramref name="converse"/> gets its stdin too, and must close it (dispose) once it has written
    /// all it wants to; <see cref="BuildUserToolRequest.Input"/> must be null.
    /// </summary>
    /// <exception cref="TimeoutException">The tool did not end within the request's timeout.</exception>
    public static Task<BuildUserToolResult> ConverseAsync(
        BuildUserToolRequest request,
        Func<Stream, Stream, CancellationToken, Task> converse,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(converse);
        if (request.Input is not null)
        {
            throw new ArgumentException("A conversation writes the tool's stdin itself.", nameof(request));
        }

        return RunCoreAsync(request, converse, ownsInput: true, timeProvider, cancellationToken);
    }

    private static async Task<BuildUserToolResult> RunCoreAsync(
        BuildUserToolRequest request,
        Func<Stream, Stream, CancellationToken, Task> converse,
        bool ownsInput,
        TimeProvider? timeProvider,
        CancellationToken cancellationToken)
    {
        if (request.Command.Count == 0 || !Path.IsPathFullyQualified(request.Command[0]))
        {
            throw new ArgumentException("The tool must be named by its absolute path.", nameof(request));
        }

        var startInfo = new ProcessStartInfo
        {
            FileName = request.RunAs is null ? (request.Sandbox is { Count: > 0 } s ? s[0] : request.Command[0]) : SetprivPath,
            // Launch processes start in a neutral folder with a fixed environment (as BuildProcess's do).
            WorkingDirectory = request.Sandbox is { Count: > 0 } ? "/" : request.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.Environment.Clear();
        startInfo.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        startInfo.Environment["LANG"] = "C.UTF-8";
        var arguments = Arguments(request);
        foreach (var argument in arguments.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = startInfo };
        // From the spawner thread, so that a sandbox's --die-with-parent follows this process, not a pool thread.
        await SpawnThread.StartAsync(process).ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(request.Timeout, timeProvider ?? TimeProvider.System);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var errors = ReadBoundedAsync(process.StandardError.BaseStream);
        var stdin = process.StandardInput.BaseStream;
        var input = ownsInput ? Task.CompletedTask : WriteInputAsync(stdin, request.Input, linked.Token);
        try
        {
            await converse(stdin, process.StandardOutput.BaseStream, linked.Token).ConfigureAwait(false);
            if (!await DrainAsync(process.StandardOutput.BaseStream, linked.Token).ConfigureAwait(false))
            {
                Kill(process); // it goes on writing what the reader did not want.
            }

            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"'{Path.GetFileName(request.Command[0])}' did not finish within {BuildProcess.Describe(request.Timeout)}");
        }
        finally
        {
            Kill(process);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                if (ownsInput)
                {
                    await stdin.DisposeAsync().ConfigureAwait(false); // closed already, unless the conversation ended early.
                }

                await input.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // The tool stopped reading (it ended, or was killed): what it did with its input shows in its exit code.
            }
        }

        return new BuildUserToolResult(process.ExitCode, Printable.Of(await errors.ConfigureAwait(false), MaxErrorBytes));
    }

    /// <summary>The whole command line: [setpriv ... --] [bwrap ... --] tool args.</summary>
    internal static List<string> Arguments(BuildUserToolRequest request)
    {
        var args = new List<string>();
        if (request.RunAs is { } user)
        {
            args.AddRange([
                SetprivPath,
                $"--reuid={user.Uid}", $"--regid={user.Gid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            ]);
        }

        if (request.Sandbox is { Count: > 0 } sandbox)
        {
            if (sandbox[^1] != "--")
            {
                throw new ArgumentException("The sandbox's options must end with \"--\".", nameof(request));
            }

            // The build's own --chdir gives way to the tool's (bwrap warns on stderr when given two).
            for (var i = 0; i < sandbox.Count - 1; i++)
            {
                if (sandbox[i] == "--chdir")
                {
                    i++;
                    continue;
                }

                args.Add(sandbox[i]);
            }

            args.AddRange(["--chdir", request.WorkingDirectory, "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8", "--"]);
        }

        args.AddRange(request.Command);
        return args;
    }

    /// <summary>Reads what the reader left (a tar's end padding, say), up to a bound; false when the tool wrote more.</summary>
    private static async Task<bool> DrainAsync(Stream stdout, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            for (var left = MaxTrailingBytes; left > 0;)
            {
                var read = await stdout.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return true;
                }

                left -= read;
            }
        }
        catch (ObjectDisposedException)
        {
            return true; // the reader closed it: a tool still writing gets EPIPE and ends.
        }

        return false;
    }

    private static async Task WriteInputAsync(Stream stdin, ReadOnlyMemory<byte>? input, CancellationToken cancellationToken)
    {
        await using (stdin.ConfigureAwait(false))
        {
            if (input is { } bytes)
            {
                await stdin.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task<string> ReadBoundedAsync(Stream stderr)
    {
        var kept = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await stderr.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            var room = MaxErrorBytes - (int)kept.Length;
            if (room > 0)
            {
                kept.Write(buffer, 0, Math.Min(room, read));
            }
        }

        return Encoding.UTF8.GetString(kept.GetBuffer(), 0, (int)kept.Length).Trim();
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Raced with exit.
        }
    }
}
