using System.Diagnostics;
using System.Text;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Tests.Publishing;

/// <summary>
/// The outputs collected across the trust boundary: listed and packed by one tool run as the build user, in the
/// build's sandbox (or setpriv'd, unsandboxed), read here as data (bwrap: scripts/test.sh installs it).
/// </summary>
public sealed class OutputCollectorTests : IDisposable
{
    private static readonly BuildUser Nobody = new(65534, 65534);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<bool> Sandboxed => new() { true, false };

    private BuildView ViewOf(string tree, bool sandboxed)
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root, like the server on the test machines");
        GiveToNobody(tree);
        return new BuildView(tree, sandboxed ? [Sandbox.Find()!, .. Sandbox.Arguments(new SandboxRequest([tree], tree, Network: false))] : null, Nobody);
    }

    [Theory]
    [MemberData(nameof(Sandboxed))]
    public async Task Collect_FilesInNestedFolders_MatchesTheGlobsAndStreamsEachFileOnceInOrder(bool sandboxed)
    {
        var tree = _temp.Combine("tree");
        _temp.Write("tree/out/a.txt", "alpha");
        _temp.Write("tree/out/sub/b.bin", new string('b', 100_000));
        _temp.Write("tree/out/sub/deeper/c.txt", "gamma");
        _temp.Write("tree/target/app-1.0.jar", "jar");
        _temp.Write("tree/target/app-1.0-sources.jar", "sources");
        _temp.Write("tree/target/classes/A.class", "class");
        _temp.Write("tree/elsewhere/x.txt", "x");
        File.SetUnixFileMode(_temp.Combine("tree", "out", "a.txt"), (UnixFileMode)0b111_101_101);
        string[] patterns = ["out/**", "target/*.jar", "!target/*-sources.jar"];

        var (listing, files, skipped) = await CollectAsync(ViewOf(tree, sandboxed), patterns);

        Assert.Equal(["out/a.txt", "out/sub/b.bin", "out/sub/deeper/c.txt", "target/app-1.0.jar"], files.Select(f => f.Path));
        Assert.Equal(["alpha", new string('b', 100_000), "gamma", "jar"], files.Select(f => f.Content));
        Assert.Equal((UnixFileMode)0b111_101_101, files[0].Mode);
        Assert.Empty(skipped);
        // Listed only as deep as the globs reach: target/*.jar needs no look inside target/classes, nothing needs elsewhere/.
        Assert.Contains(listing, e => e.Path == "target/classes" && e.Kind == FileKind.Directory);
        Assert.DoesNotContain(listing, e => e.Path.StartsWith("target/classes/", StringComparison.Ordinal) || e.Path.StartsWith("elsewhere/", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("*.tgz", new[] { "app.tgz" })]
    [InlineData("**/*.txt", new[] { "a/b/deep.txt", "a/mid.txt", "top.txt" })]
    [InlineData("a/*/*.txt", new[] { "a/b/deep.txt" })]
    [InlineData("a/**", new[] { "a/b/c/d.bin", "a/b/deep.txt", "a/mid.txt" })]
    [InlineData("a/mid.txt", new[] { "a/mid.txt" })]
    public async Task Collect_Globs_MatchAsTheMatcherDoes(string pattern, string[] expected)
    {
        var tree = _temp.Combine("tree");
        foreach (var file in (string[])["app.tgz", "top.txt", "a/mid.txt", "a/b/deep.txt", "a/b/c/d.bin"])
        {
            _temp.Write($"tree/{file}", file);
        }

        var (_, files, _) = await CollectAsync(ViewOf(tree, sandboxed: true), [pattern]);

        Assert.Equal(expected, files.Select(f => f.Path));
    }

    /// <summary>
    /// out/self -> . and out/up -> .. loop, out/e -> /etc leads outside: each is one entry of the listing, skipped and
    /// named once, never followed. Before the fix the matcher followed them: a loop was an exception, /etc a flood of lines.
    /// </summary>
    [Theory]
    [MemberData(nameof(Sandboxed))]
    public async Task Collect_LinkLoopsAndALinkToEtc_AreSkippedOnceEachAndNeverFollowed(bool sandboxed)
    {
        var tree = _temp.Combine("tree");
        _temp.Write("tree/out/a.txt", "alpha");
        _temp.Write("tree/out/sub/b.txt", "beta");
        var view = ViewOf(tree, sandboxed); // before the links: handing the tree over follows them.
        Directory.CreateSymbolicLink(_temp.Combine("tree", "out", "self"), ".");
        Directory.CreateSymbolicLink(_temp.Combine("tree", "out", "up"), "..");
        Directory.CreateSymbolicLink(_temp.Combine("tree", "out", "sub", "loop"), "../..");
        Directory.CreateSymbolicLink(_temp.Combine("tree", "out", "e"), "/etc");
        File.CreateSymbolicLink(_temp.Combine("tree", "out", "passwd"), "/etc/passwd");

        var (_, files, skipped) = await CollectAsync(view, ["out/**"]);

        Assert.Equal(["out/a.txt", "out/sub/b.txt"], files.Select(f => f.Path));
        Assert.Equal(
            new[] { "out/e", "out/passwd", "out/self", "out/sub/loop", "out/up" }.Select(p => $"skipped '{p}': it is a symbolic link (links are never followed); only regular files are published"),
            skipped);
    }

    /// <summary>
    /// Between the listing and the packing a file becomes a link to /etc/passwd and a folder a link to a folder of the
    /// runner's: tar stores the first as a link (skipped), and reads through the second only with the build user's
    /// rights in the build's view, which do not reach the runner's file.
    /// </summary>
    [Theory]
    [MemberData(nameof(Sandboxed))]
    public async Task Collect_AFileAndAFolderSwappedForLinksAfterTheListing_AreNotFollowed(bool sandboxed)
    {
        var tree = _temp.Combine("tree");
        _temp.Write("tree/out/a.txt", "alpha");
        _temp.Write("tree/out/d/secret.txt", "the build's own");
        _temp.Write("tree/out/z.txt", "zeta");
        var runnersFolder = _temp.Combine("runners");
        var secret = _temp.Write("runners/secret.txt", "RUNNER SECRET");
        File.SetUnixFileMode(runnersFolder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var view = ViewOf(tree, sandboxed);
        var files = new List<(string Path, string Content)>();
        var skipped = new List<string>();

        await OutputCollector.CollectAsync(view, ["out/**"], (listing, _) =>
        {
            File.Delete(_temp.Combine("tree", "out", "a.txt"));
            File.CreateSymbolicLink(_temp.Combine("tree", "out", "a.txt"), "/etc/passwd");
            Directory.Delete(_temp.Combine("tree", "out", "d"), recursive: true);
            Directory.CreateSymbolicLink(_temp.Combine("tree", "out", "d"), runnersFolder);
            return Task.FromResult<IReadOnlyList<string>>(["out/a.txt", "out/d/secret.txt", "out/z.txt"]);
        }, async (file, ct) => files.Add((file.Path, await new StreamReader(file.Content).ReadToEndAsync(ct))), skipped.Add, long.MaxValue, TimeSpan.FromMinutes(1));

        Assert.Equal([("out/z.txt", "zeta")], files);
        Assert.Equal(
            [
                "skipped 'out/a.txt': it changed while it was published (now a symbolic link); only regular files are published",
                "skipped 'out/d/secret.txt': the build user cannot read it",
            ],
            skipped);
    }

    /// <summary>A FIFO whose name holds a line feed and files with a tab and a carriage return: the files come out under their exact names, the FIFO is named escaped.</summary>
    [Fact]
    public async Task Collect_NamesWithControlCharacters_AreStreamedExactlyAndNamedEscaped()
    {
        var tree = _temp.Combine("tree");
        _temp.Write("tree/out/tab\there.txt", "tab");
        _temp.Write("tree/out/cr\rhere.txt", "cr");
        Run("mkfifo", _temp.Combine("tree", "out", "x\n[autobuilder] outcome: succeeded"));

        var (_, files, skipped) = await CollectAsync(ViewOf(tree, sandboxed: true), ["out/**"]);

        Assert.Equal(["out/cr\rhere.txt", "out/tab\there.txt"], files.Select(f => f.Path));
        Assert.Equal(["skipped 'out/x\\n[autobuilder] outcome: succeeded': it is a FIFO (named pipe); only regular files are published"], skipped);
    }

    [Fact]
    public async Task Collect_AFileLargerThanTheLimit_FailsNamingIt()
    {
        var tree = _temp.Combine("tree");
        _temp.Write("tree/out/big.bin", new string('x', 10_000));

        var ex = await Assert.ThrowsAsync<BuildFailureException>(() => OutputCollector.CollectAsync(ViewOf(tree, sandboxed: true), ["out/**"],
            (listing, _) => Task.FromResult(OutputMatcher.RegularFiles(OutputMatcher.Match(listing, ["out/**"]))),
            (_, _) => Task.CompletedTask, _ => { }, maxFileBytes: 4096, TimeSpan.FromMinutes(1)));

        Assert.Equal("output 'out/big.bin' (9.8 KB) is larger than 4 KB (Builds:MaxWorkspaceBytes)", ex.Message);
    }

    [Fact]
    public async Task ResultZip_PastItsLimit_FailsNamingIt()
    {
        var tree = _temp.Combine("tree");
        File.WriteAllBytes(Path.Combine(Directory.CreateDirectory(Path.Combine(tree, "out")).FullName, "random.bin"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(200_000));
        var ex = await Assert.ThrowsAsync<BuildFailureException>(async () =>
        {
            using var zip = new ResultZipWriter(_temp.Combine("result.zip"), 100_000, "result.zip grew past 97.7 KB (Builds:MaxWorkspaceBytes)");
            await OutputCollector.CollectAsync(ViewOf(tree, sandboxed: true), ["out/**"],
                (listing, _) => Task.FromResult(OutputMatcher.RegularFiles(OutputMatcher.Match(listing, ["out/**"]))),
                (file, ct) => zip.AddAsync(file, null, ct), _ => { }, long.MaxValue, TimeSpan.FromMinutes(1));
        });

        Assert.Equal("result.zip grew past 97.7 KB (Builds:MaxWorkspaceBytes)", ex.Message);
        Assert.InRange(new FileInfo(_temp.Combine("result.zip")).Length, 0, 100_000);
    }

    [Fact]
    public async Task Collect_AToolThatCannotStart_FailsWithItsReason()
    {
        var tree = _temp.Combine("tree");
        _temp.Write("tree/out/a.txt", "alpha");
        var view = ViewOf(tree, sandboxed: true) with { Sandbox = [Sandbox.Find()!, "--no-such-option", "--"] };

        var ex = await Assert.ThrowsAsync<BuildFailureException>(() => OutputCollector.ListAsync(view, ["out/**"], TimeSpan.FromMinutes(1)));

        Assert.StartsWith("the outputs could not be listed as the build user: bwrap: Unknown option --no-such-option", ex.Message, StringComparison.Ordinal);
    }

    private static async Task<(IReadOnlyList<ListedEntry> Listing, List<(string Path, string Content, UnixFileMode Mode)> Files, List<string> Skipped)> CollectAsync(BuildView view, IReadOnlyList<string> patterns)
    {
        IReadOnlyList<ListedEntry> listed = [];
        var files = new List<(string, string, UnixFileMode)>();
        var skipped = new List<string>();
        await OutputCollector.CollectAsync(view, patterns, (listing, _) =>
        {
            listed = listing;
            return Task.FromResult(OutputMatcher.RegularFiles(OutputMatcher.Match(listing, patterns), skipped.Add));
        }, async (file, ct) => files.Add((file.Path, await new StreamReader(file.Content, Encoding.UTF8).ReadToEndAsync(ct), file.Mode)), skipped.Add, long.MaxValue, TimeSpan.FromMinutes(1));
        return (listed, files, skipped);
    }

    private void GiveToNobody(string tree)
    {
        BuildUserAccess.GiveTo(tree, Nobody);
        // The temp folders above it must let the build user pass, as a workspace does.
        for (var folder = tree; folder != Path.GetTempPath().TrimEnd('/') && folder is not null; folder = Path.GetDirectoryName(folder))
        {
            File.SetUnixFileMode(folder, File.GetUnixFileMode(folder) | UnixFileMode.OtherExecute);
        }
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { UseShellExecute = false })!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }
}
