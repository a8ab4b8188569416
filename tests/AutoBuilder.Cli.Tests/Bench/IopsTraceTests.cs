using AutoBuilder.Cli.Bench;

namespace AutoBuilder.Cli.Tests.Bench;

/// <summary>The strace -f -C -y output the iops scenario reads: file calls by where they land, and strace's own summary.</summary>
public sealed class IopsTraceTests : IDisposable
{
    private readonly string _trace = Path.Combine(Path.GetTempPath(), $"strace-{Guid.NewGuid():N}.txt");

    [Theory]
    [InlineData("openat", "AT_FDCWD</ws>, \"/repo/a.jar\", O_RDONLY) = 3</repo/a.jar>", "/repo/a.jar")]
    [InlineData("openat", "AT_FDCWD</ws>, \"pom.xml\", O_RDONLY) = 3</ws/pom.xml>", "/ws/pom.xml")]
    [InlineData("newfstatat", "3</ws/target/x.class>, \"\", {st_mode=S_IFREG}, AT_EMPTY_PATH) = 0", "/ws/target/x.class")]
    [InlineData("read", "7</usr/lib/jvm/lib/modules>, \"\\312\\376\"..., 4096) = 4096", "/usr/lib/jvm/lib/modules")]
    [InlineData("write", "4</ws/out.txt>, \"hello\", 5) = 5", "/ws/out.txt")]
    [InlineData("mkdir", "\"/ws/target/classes\", 0777) = 0", "/ws/target/classes")]
    [InlineData("write", "5<pipe:[123]>, \"x\", 1) = 1", null)]
    [InlineData("access", "\"relative/path\", R_OK) = 0", null)]
    public void PathOf_FindsTheFileACallTouches(string call, string args, string? expected) =>
        Assert.Equal(expected, IopsScenario.PathOf(call, args));

    [Fact]
    public void Analyse_CountsFileCallsByPlace_AndReadsTheSummary()
    {
        File.WriteAllLines(_trace,
        [
            "100  openat(AT_FDCWD</ws>, \"/ws/pom.xml\", O_RDONLY) = 3</ws/pom.xml>",
            "100  read(3</ws/pom.xml>, \"<project>\"..., 8192) = 512",
            "100  close(3</ws/pom.xml>) = 0",
            "101  openat(AT_FDCWD</ws>, \"/cache/repo/junit.jar\", O_RDONLY <unfinished ...>",
            "101  <... openat resumed>) = 4</cache/repo/junit.jar>",
            "101  pread64(4</cache/repo/junit.jar>, \"PK\"..., 22, 100) = 22",
            "102  read(5</usr/lib/jvm/lib/modules>, \"\"..., 4096) = 4096",
            "102  read(6<pipe:[99]>, \"x\", 1) = 1",
            "102  newfstatat(AT_FDCWD</ws>, \"/proc/self/status\", {}, 0) = 0",
            "102  mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 5</usr/lib/jvm/lib/modules>, 0) = 0x7f00",
            "% time     seconds  usecs/call     calls    errors syscall",
            "------ ----------- ----------- --------- --------- ----------------",
            " 60.00    0.000600           6       100           read",
            " 40.00    0.000400           8        50        10 openat",
            "------ ----------- ----------- --------- --------- ----------------",
            "100.00    0.001000           6       150        10 total",
        ]);

        var (summary, byPlace) = IopsScenario.Analyse(_trace, "/ws", "/cache/repo");

        Assert.Equal(3, byPlace["workspace"]);
        Assert.Equal(2, byPlace["repository"]);
        Assert.Equal(1, byPlace["other"]); // the JDK read; the pipe, /proc and mmap are not disk calls
        Assert.Equal([("read", 100L), ("openat", 50L)], summary.Select(s => (s.Syscall, s.Calls)));
    }

    [Fact]
    public void Analyse_RepositoryInsideTheWorkspace_CountsItAsRepository_AndCountsTheShareApart()
    {
        // The keyed cache's layout: the repository restored under the workspace; the share is elsewhere.
        File.WriteAllLines(_trace,
        [
            "100  openat(AT_FDCWD</local/ws/source>, \"/local/ws/cache/maven/repository/a.jar\", O_RDONLY) = 3</local/ws/cache/maven/repository/a.jar>",
            "100  read(3</local/ws/cache/maven/repository/a.jar>, \"PK\"..., 8192) = 512",
            "100  openat(AT_FDCWD</local/ws/source>, \"pom.xml\", O_RDONLY) = 4</local/ws/source/pom.xml>",
            "100  newfstatat(AT_FDCWD</local/ws/source>, \"/share/cache/x\", {}, 0) = -1 ENOENT",
            "100  newfstatat(AT_FDCWD</local/ws/source>, \"/share-other/y\", {}, 0) = 0",
        ]);

        var (_, byPlace) = IopsScenario.Analyse(_trace, "/local/ws/source", "/local/ws/cache/maven/repository", "/share");

        Assert.Equal(2, byPlace["repository"]);
        Assert.Equal(1, byPlace["workspace"]);
        Assert.Equal(2, byPlace["other"]);
        Assert.Equal(1, byPlace["shared"]); // /share-other is not under /share
    }

    public void Dispose() => File.Delete(_trace);
}
