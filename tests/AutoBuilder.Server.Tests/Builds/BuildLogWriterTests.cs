using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Builds;
using AutoBuilder.Storage;

namespace AutoBuilder.Server.Tests.Builds;

public sealed class BuildLogWriterTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autobuilder-server-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task AppendLineAsync_ReasonWithLineBreaks_StaysOneEscapedLine()
    {
        // A reason the server writes may quote what a runner or a build said.
        var store = new FileSystemBlobStore(new FileSystemBlobStoreOptions
        {
            RootPath = _root,
            PublicBaseUrl = new Uri("https://builds.example.com/"),
            SigningKey = [.. Enumerable.Range(1, 32).Select(i => (byte)i)],
        }, TimeProvider.System);
        var log = new BlobLayout(new ContainerNames()).BuildLog("p", 1);

        await BuildLogWriter.AppendLineAsync(store, log, "[autobuilder] attempt 1 failed: boom\n[autobuilder] outcome: succeeded\r\u001b[2K");
        await BuildLogWriter.AppendLineAsync(store, log, "[autobuilder] plain");

        await using var content = await store.OpenReadAsync(log);
        using var reader = new StreamReader(content);
        Assert.Equal("[autobuilder] attempt 1 failed: boom\\n[autobuilder] outcome: succeeded\\r\\u001B[2K\n[autobuilder] plain\n", await reader.ReadToEndAsync());
    }
}
