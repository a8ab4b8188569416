namespace AutoBuilder.Runner.Processes;

/// <summary>The folders a sandboxed command may write: its source root, HOME, TMPDIR and the cache.</summary>
/// <param name="Writable">Bound read-write at their own paths; everything else of the host is hidden.</param>
/// <param name="WorkingDirectory">Where the command starts (one of, or inside, the writable folders).</param>
/// <param name="Network">Share the network namespace bwrap starts in (the host's, or the build's own egress namespace); otherwise the command has only its own loopback.</param>
/// <param name="TempDirectory">Bound at /tmp and /var/tmp, so what the build puts there is on disk and counts against its workspace; null: in-memory tmpfs.</param>
public sealed record SandboxRequest(IReadOnlyList<string> Writable, string WorkingDirectory, bool Network, string? TempDirectory = null);

/// <summary>
/// The bubblewrap (bwrap) command line that runs a build command in new namespaces (mount, pid, ipc,
/// uts, cgroup, net) with no capabilities, seeing only the read-only system toolchains (/usr, /etc,
/// /opt and the root's /bin, /lib... links) and the folders of its <see cref="SandboxRequest"/>.
/// Not visible: the data folder (keys, database, blobs), other workspaces, the runner's files and
/// processes (and so its token), /root, /home, /work, /srv, /var, /run, /sys.
/// </summary>
public static class Sandbox
{
    public const string ExecutableName = "bwrap";

    /// <summary>Root entries that are usrmerge links or system folders; a link stays a link, a folder is bound read-only.</summary>
    private static readonly string[] RootEntries = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

    /// <summary>Bound read-only when present.</summary>
    private static readonly string[] SystemFolders = ["/usr", "/etc", "/opt"];

    /// <summary>Where the masked entries are looked for: files here that other users may not read are hidden.</summary>
    private const string MaskedTree = "/etc";

    /// <summary>bwrap on PATH, or null.</summary>
    public static string? Find(string? path = null) => Executables.Find(ExecutableName, path);

    /// <summary>bwrap's options, up to and including "--"; the command to run follows them.</summary>
    public static List<string> Arguments(SandboxRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        // A user namespace of its own, in which no further one may be made: nested namespaces are the kernel's
        // largest attack surface open to an unprivileged process.
        var args = new List<string> { "--unshare-all", "--unshare-user", "--disable-userns" };
        if (request.Network)
        {
            args.Add("--share-net");
        }

        // No --new-session: the runner's setsid already leaves no controlling terminal, and the
        // command must stay in the runner's process group so that one kill(-pgid) stops it all.
        // --die-with-parent: the sandbox dies with the process that started it, even on SIGKILL. Its
        // PR_SET_PDEATHSIG fires when the *thread* that forked bwrap ends, so BuildProcess forks from
        // SpawnThread, which lives as long as the process.
        args.Add("--die-with-parent");
        args.AddRange(["--cap-drop", "ALL"]);
        foreach (var folder in SystemFolders.Where(Directory.Exists))
        {
            args.AddRange(["--ro-bind", folder, folder]);
        }

        foreach (var entry in RootEntries)
        {
            var info = new FileInfo(entry);
            if (info.LinkTarget is { } target)
            {
                args.AddRange(["--symlink", target, entry]);
            }
            else if (Directory.Exists(entry))
            {
                args.AddRange(["--ro-bind", entry, entry]);
            }
        }

        args.AddRange(Masks());
        args.AddRange(["--proc", "/proc", "--dev", "/dev"]);
        foreach (var temp in (string[])["/tmp", "/var/tmp"])
        {
            args.AddRange(request.TempDirectory is { } folder ? ["--bind", Path.GetFullPath(folder), temp] : ["--tmpfs", temp]);
        }

        foreach (var folder in request.Writable.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal))
        {
            args.AddRange(["--bind", folder, folder]);
        }

        args.AddRange(["--chdir", request.WorkingDirectory, "--"]);
        return args;
    }

    /// <summary>
    /// Hides what only the host's owners may read (/etc/shadow, private keys): the command runs as
    /// the runner's user, which may own them. Files become an unreadable /dev/null, folders empty.
    /// </summary>
    private static IEnumerable<string> Masks()
    {
        if (!Directory.Exists(MaskedTree) || OperatingSystem.IsWindows())
        {
            yield break;
        }

        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
        };
        var hiddenFolders = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(MaskedTree, "*", options))
        {
            if (hiddenFolders.Exists(folder => entry.StartsWith(folder + "/", StringComparison.Ordinal)))
            {
                continue;
            }

            UnixFileMode mode;
            try
            {
                mode = File.GetUnixFileMode(entry);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if ((mode & UnixFileMode.OtherRead) != 0)
            {
                continue;
            }

            if (Directory.Exists(entry))
            {
                hiddenFolders.Add(entry);
                yield return "--tmpfs";
                yield return entry;
            }
            else if (File.Exists(entry))
            {
                yield return "--ro-bind";
                yield return "/dev/null";
                yield return entry;
            }
        }
    }
}
