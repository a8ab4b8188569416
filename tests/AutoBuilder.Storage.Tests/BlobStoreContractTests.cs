using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage.Tests;

/// <summary>
/// The behaviour every <see cref="IBlobStore"/> must have. Each backend subclasses this with a factory for a fresh,
/// empty store; the tests use only <see cref="IBlobStore"/> members, so the same suite runs against every backend.
/// </summary>
public abstract partial class BlobStoreContractTests : IAsyncLifetime
{
    private IBlobStore? _store;

    /// <summary>A fresh, empty, initialized store, private to one test.</summary>
    protected abstract Task<IBlobStore> CreateStoreAsync();

    /// <summary>Removes everything <see cref="CreateStoreAsync"/> created.</summary>
    protected abstract Task DeleteStoreAsync();

    /// <summary>The container names the store under test is configured with.</summary>
    protected virtual ContainerNames Containers { get; } = new();

    protected IBlobStore Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public Task DisposeAsync() => DeleteStoreAsync();

    protected BlobRef Blob(string path) => new(Containers.Projects, path);

    [Fact]
    public async Task UploadAsync_64MiBGeneratedStream_RoundTripsWithSameSizeAndHash()
    {
        const long size = 64L * 1024 * 1024;
        var expectedHash = GeneratedStream.Sha256Of(size, seed: 7);
        var blob = Blob("big/blob.bin");

        await using var content = new GeneratedStream(size, seed: 7);
        var uploaded = await Store.UploadAsync(blob, content, overwrite: false);

        Assert.Equal(size, uploaded.Size);
        Assert.Equal(expectedHash, uploaded.Sha256);
        await using var read = await Store.OpenReadAsync(blob);
        var (readSize, readHash) = await MeasureAsync(read);
        Assert.Equal(size, readSize);
        Assert.Equal(expectedHash, readHash);
        Assert.Equal(size, (await Store.GetPropertiesAsync(blob))?.Size);
    }

    [Fact]
    public async Task UploadAsync_KnownContent_ReturnsSizeAndLowercaseHexSha256()
    {
        var bytes = Encoding.UTF8.GetBytes("hello, blob store\n");

        var result = await Store.UploadAsync(Blob("p/hello.txt"), new MemoryStream(bytes), overwrite: false);

        Assert.Equal(bytes.Length, result.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), result.Sha256);
        Assert.Matches(LowerHex64(), result.Sha256);
    }

    [Fact]
    public async Task UploadAsync_EmptyStream_StoresEmptyBlob()
    {
        var result = await Store.UploadAsync(Blob("p/empty"), new MemoryStream(), overwrite: false);

        Assert.Equal(0, result.Size);
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", result.Sha256);
        Assert.Equal(0, (await Store.GetPropertiesAsync(Blob("p/empty")))?.Size);
    }

    [Theory]
    [InlineData(0, "0123456789")]
    [InlineData(3, "3456789")]
    [InlineData(9, "9")]
    [InlineData(10, "")]
    [InlineData(1000, "")]
    public async Task OpenReadAsync_AtOffset_ReturnsTheRestOfTheBlob(long offset, string expected)
    {
        await UploadTextAsync(Blob("p/digits"), "0123456789");

        Assert.Equal(expected, await ReadTextAsync(Blob("p/digits"), offset));
    }

    [Fact]
    public async Task OpenReadAsync_MissingBlob_ThrowsBlobNotFound()
    {
        var error = await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.OpenReadAsync(Blob("p/missing")));

        Assert.Equal(Blob("p/missing"), error.Blob);
    }

    [Fact]
    public async Task GetPropertiesAsync_MissingBlob_ReturnsNull()
    {
        Assert.Null(await Store.GetPropertiesAsync(Blob("p/missing")));
    }

    [Fact]
    public async Task GetPropertiesAsync_ExistingBlob_ReturnsSizeAndModificationTime()
    {
        // The store stamps the blob with its own clock (file system: the kernel's; Azure: the service's, in whole seconds)
        // during the upload, so the stamp lies between readings taken around it — less the 1 s of the coarsest stamp.
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await UploadTextAsync(Blob("p/props"), "twelve bytes");
        var after = DateTimeOffset.UtcNow;

        var properties = await Store.GetPropertiesAsync(Blob("p/props"));

        Assert.NotNull(properties);
        Assert.Equal(12, properties.Size);
        Assert.InRange(properties.LastModified, before, after);
        Assert.True(properties.Sha256 is null || properties.Sha256 == Convert.ToHexStringLower(SHA256.HashData("twelve bytes"u8)));
    }

    [Fact]
    public async Task UploadAsync_ConditionalCreateOnExistingBlob_ThrowsAndKeepsContent()
    {
        await UploadTextAsync(Blob("p/release.jar"), "original");

        var error = await Assert.ThrowsAsync<BlobAlreadyExistsException>(
            () => Store.UploadAsync(Blob("p/release.jar"), new MemoryStream("replacement"u8.ToArray()), overwrite: false));

        Assert.Equal(Blob("p/release.jar"), error.Blob);
        Assert.Equal("original", await ReadTextAsync(Blob("p/release.jar")));
    }

    [Fact]
    public async Task UploadAsync_RacingConditionalCreates_ExactlyOneWinsAndItsContentIsStored()
    {
        const int racers = 8;
        var blob = Blob("cache/key.tar.zst");
        var arrived = 0;
        var allStreamed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Every racer passes any up-front existence check, streams its content and only then may finish, together.
        Task AllRacersStreamed()
        {
            if (Interlocked.Increment(ref arrived) == racers)
            {
                allStreamed.SetResult();
            }

            return allStreamed.Task;
        }

        var attempts = Enumerable.Range(0, racers).Select(i => Task.Run(async () =>
        {
            var content = Encoding.UTF8.GetBytes($"content of racer {i}");
            try
            {
                await Store.UploadAsync(blob, new TrickleStream(content, piece: 1024, beforeEnd: AllRacersStreamed), overwrite: false);
                return (Racer: i, Won: true);
            }
            catch (BlobAlreadyExistsException)
            {
                return (Racer: i, Won: false);
            }
        })).ToList();
        var outcomes = await Task.WhenAll(attempts);

        var winner = Assert.Single(outcomes, o => o.Won);
        Assert.Equal($"content of racer {winner.Racer}", await ReadTextAsync(blob));
    }

    [Fact]
    public async Task UploadAsync_WithOverwrite_ReplacesContent()
    {
        await UploadTextAsync(Blob("p/result.json"), "{\"status\":\"old, and longer than the new one\"}");

        var result = await Store.UploadAsync(Blob("p/result.json"), new MemoryStream("{\"status\":\"new\"}"u8.ToArray()), overwrite: true);

        Assert.Equal(16, result.Size);
        Assert.Equal("{\"status\":\"new\"}", await ReadTextAsync(Blob("p/result.json")));
    }

    [Fact]
    public async Task UploadAsync_StreamFailsHalfWay_LeavesNoBlob()
    {
        var blob = Blob("p/partial.zip");

        await Assert.ThrowsAsync<IOException>(() => Store.UploadAsync(blob, new FailingStream(3 * 1024 * 1024 + 17), overwrite: false));

        Assert.Null(await Store.GetPropertiesAsync(blob));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.OpenReadAsync(blob));
        Assert.Empty(await ListPathsAsync(Containers.Projects, ""));
    }

    [Fact]
    public async Task UploadAsync_OverwriteFailsHalfWay_KeepsPreviousContent()
    {
        var blob = Blob("p/result.zip");
        await UploadTextAsync(blob, "previous");

        await Assert.ThrowsAsync<IOException>(() => Store.UploadAsync(blob, new FailingStream(1024 * 1024 + 3), overwrite: true));

        Assert.Equal("previous", await ReadTextAsync(blob));
    }

    [Fact]
    public async Task UploadAsync_CancelledWhileStreaming_LeavesNoBlob()
    {
        var blob = Blob("p/cancelled");
        using var cancellation = new CancellationTokenSource();
        var content = new TrickleStream(new byte[4096], piece: 512, beforeEnd: () =>
        {
            cancellation.Cancel();
            return Task.CompletedTask;
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.UploadAsync(blob, content, overwrite: true, cancellation.Token));

        Assert.Null(await Store.GetPropertiesAsync(blob));
    }

    [Fact]
    public async Task AppendAsync_MissingBlob_CreatesItThenAppends()
    {
        var log = Blob("p/builds/1/logs/build.log");

        var first = await Store.AppendAsync(log, new MemoryStream("line 1\n"u8.ToArray()));
        var second = await Store.AppendAsync(log, new MemoryStream("line 2\n"u8.ToArray()));

        Assert.Equal(7, first);
        Assert.Equal(14, second);
        Assert.Equal("line 1\nline 2\n", await ReadTextAsync(log));
    }

    [Fact]
    public async Task AppendAsync_ManyConcurrentChunks_NoneLostNoneInterleavedEachWriterInOrder()
    {
        const int writers = 8;
        const int chunksPerWriter = 20;
        var log = Blob("p/builds/2/logs/build.log");
        static string Chunk(int writer, int chunk) => $"<w{writer:D2}c{chunk:D3}:{new string((char)('a' + writer), 40)}>\n";

        var lengths = await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var returned = new List<long>();
            for (var c = 0; c < chunksPerWriter; c++)
            {
                returned.Add(await Store.AppendAsync(log, new TrickleStream(Encoding.UTF8.GetBytes(Chunk(w, c)), piece: 7)));
            }

            return returned;
        })));

        var text = await ReadTextAsync(log);
        var lines = text.Split('\n')[..^1];
        Assert.All(lines, line => Assert.Matches(ChunkLine(), line));
        var expected = Enumerable.Range(0, writers).SelectMany(w => Enumerable.Range(0, chunksPerWriter).Select(c => Chunk(w, c)[..^1]));
        Assert.Equal(expected.Order(StringComparer.Ordinal), lines.Order(StringComparer.Ordinal));
        for (var w = 0; w < writers; w++)
        {
            var prefix = $"<w{w:D2}";
            Assert.Equal(Enumerable.Range(0, chunksPerWriter).Select(c => Chunk(w, c)[..^1]), lines.Where(l => l.StartsWith(prefix, StringComparison.Ordinal)));
        }

        Assert.Equal(Encoding.UTF8.GetByteCount(text), lengths.SelectMany(l => l).Max());
        Assert.Equal(writers * chunksPerWriter, lengths.SelectMany(l => l).Distinct().Count());
    }

    [Fact]
    public async Task AppendAsync_WhileAReaderIsOpen_NewReadersAtTheOldLengthSeeTheNewData()
    {
        var log = Blob("p/builds/3/logs/build.log");
        var length = await Store.AppendAsync(log, new MemoryStream("started\n"u8.ToArray()));
        await using var openReader = await Store.OpenReadAsync(log);

        for (var i = 0; i < 5; i++)
        {
            var line = $"step {i}\n";
            var newLength = await Store.AppendAsync(log, new MemoryStream(Encoding.UTF8.GetBytes(line)));

            Assert.Equal(line, await ReadTextAsync(log, length));
            length = newLength;
        }

        Assert.StartsWith("started\n", await new StreamReader(openReader).ReadToEndAsync());
    }

    [Fact]
    public async Task AppendAsync_TailedByAConcurrentReader_ReaderEndsWithEveryByteInOrder()
    {
        var log = Blob("p/builds/4/logs/build.log");
        var expected = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            expected.Append(CultureInfoInvariant($"log line {i}: {new string('x', i % 50)}\n"));
        }

        var appender = Task.Run(async () =>
        {
            foreach (var line in expected.ToString().Split('\n')[..^1])
            {
                await Store.AppendAsync(log, new MemoryStream(Encoding.UTF8.GetBytes(line + "\n")));
            }
        });

        var received = new MemoryStream();
        async Task ReadNewAsync()
        {
            try
            {
                await using var reader = await Store.OpenReadAsync(log, received.Length);
                await reader.CopyToAsync(received);
            }
            catch (BlobNotFoundException)
            {
                // not created yet
            }
        }

        while (!appender.IsCompleted)
        {
            await ReadNewAsync();
            await Task.Yield();
        }

        await appender;
        await ReadNewAsync();
        Assert.Equal(expected.ToString(), Encoding.UTF8.GetString(received.ToArray()));
    }

    [Fact]
    public async Task ListAsync_ByPrefix_ReturnsMatchingBlobsRecursivelyInOrdinalOrder()
    {
        string[] paths = ["a/bc", "b/1", "a/b/2", "a0", "a/b/c/d", "a/b-x", "a/b/1", "A/upper"];
        foreach (var path in paths)
        {
            await UploadTextAsync(Blob(path), path);
        }

        await UploadTextAsync(new BlobRef(Containers.Artifacts, "a/b/other-container"), "x");

        Assert.Equal(["a/b/1", "a/b/2", "a/b/c/d"], await ListPathsAsync(Containers.Projects, "a/b/"));
        Assert.Equal(["a/b-x", "a/b/1", "a/b/2", "a/b/c/d", "a/bc"], await ListPathsAsync(Containers.Projects, "a/b"));
        Assert.Equal(["a/b/c/d"], await ListPathsAsync(Containers.Projects, "a/b/c"));
        Assert.Equal(["A/upper", "a/b-x", "a/b/1", "a/b/2", "a/b/c/d", "a/bc", "a0", "b/1"], await ListPathsAsync(Containers.Projects, ""));
        Assert.Empty(await ListPathsAsync(Containers.Projects, "a/b/3"));
        Assert.Empty(await ListPathsAsync(Containers.Projects, "zzz/"));
    }

    [Fact]
    public async Task ListAsync_ReturnsSizeAndContainerOfEachBlob()
    {
        await UploadTextAsync(Blob("sizes/one"), "1");
        await UploadTextAsync(Blob("sizes/three"), "333");

        var items = await ListAsync(Containers.Projects, "sizes/");

        Assert.Equal([(Blob("sizes/one"), 1L), (Blob("sizes/three"), 3L)], items.Select(i => (i.Blob, i.Size)));
    }

    [Fact]
    public async Task CopyAsync_ToNewTarget_CopiesContentAndKeepsSource()
    {
        var source = Blob("builds/5/artifacts/app.jar");
        var target = new BlobRef(Containers.Artifacts, "p/1.0.0/app.jar");
        await UploadTextAsync(source, "jar bytes");

        await Store.CopyAsync(source, target, overwrite: false);

        Assert.Equal("jar bytes", await ReadTextAsync(target));
        Assert.Equal("jar bytes", await ReadTextAsync(source));
    }

    [Fact]
    public async Task CopyAsync_OntoExistingTargetWithoutOverwrite_ThrowsAndKeepsTarget()
    {
        var source = Blob("builds/6/artifacts/app.jar");
        var target = new BlobRef(Containers.Artifacts, "p/1.0.0/app.jar");
        await UploadTextAsync(source, "new build");
        await UploadTextAsync(target, "released");

        await Assert.ThrowsAsync<BlobAlreadyExistsException>(() => Store.CopyAsync(source, target, overwrite: false));

        Assert.Equal("released", await ReadTextAsync(target));
    }

    [Fact]
    public async Task CopyAsync_OntoExistingTargetWithOverwrite_ReplacesTarget()
    {
        var source = Blob("builds/7/artifacts/app.jar");
        var target = new BlobRef(Containers.Artifacts, "p/latest/app.jar");
        await UploadTextAsync(source, "newer");
        await UploadTextAsync(target, "older and longer");

        await Store.CopyAsync(source, target, overwrite: true);

        Assert.Equal("newer", await ReadTextAsync(target));
    }

    [Fact]
    public async Task CopyAsync_MissingSource_ThrowsBlobNotFoundAndCreatesNoTarget()
    {
        var target = new BlobRef(Containers.Artifacts, "p/1.0.0/app.jar");

        var error = await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.CopyAsync(Blob("missing.jar"), target, overwrite: true));

        Assert.Equal(Blob("missing.jar"), error.Blob);
        Assert.Null(await Store.GetPropertiesAsync(target));
    }

    [Fact]
    public async Task DeleteAsync_ExistingBlob_ReturnsTrueAndBlobIsGone()
    {
        await UploadTextAsync(Blob("d/x/gone"), "bye");
        await UploadTextAsync(Blob("d/kept"), "stay");

        Assert.True(await Store.DeleteAsync(Blob("d/x/gone")));

        Assert.Null(await Store.GetPropertiesAsync(Blob("d/x/gone")));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.OpenReadAsync(Blob("d/x/gone")));
        Assert.Equal(["d/kept"], await ListPathsAsync(Containers.Projects, "d/"));
    }

    [Fact]
    public async Task DeleteAsync_MissingBlob_ReturnsFalse()
    {
        Assert.False(await Store.DeleteAsync(Blob("never/was")));
    }

    [Fact]
    public async Task DeleteAsync_ThenConditionalCreate_Succeeds()
    {
        await UploadTextAsync(Blob("again/blob"), "first");
        await Store.DeleteAsync(Blob("again/blob"));

        await UploadTextAsync(Blob("again/blob"), "second");

        Assert.Equal("second", await ReadTextAsync(Blob("again/blob")));
    }

    [Fact]
    public async Task IsReachableAsync_InitializedStore_ReturnsTrue()
    {
        Assert.True(await Store.IsReachableAsync());
    }

    protected async Task UploadTextAsync(BlobRef blob, string text) =>
        await Store.UploadAsync(blob, new MemoryStream(Encoding.UTF8.GetBytes(text)), overwrite: false);

    protected async Task<string> ReadTextAsync(BlobRef blob, long offset = 0)
    {
        await using var stream = await Store.OpenReadAsync(blob, offset);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    protected async Task<List<BlobItem>> ListAsync(string container, string prefix)
    {
        var items = new List<BlobItem>();
        await foreach (var item in Store.ListAsync(container, prefix))
        {
            items.Add(item);
        }

        return items;
    }

    protected async Task<List<string>> ListPathsAsync(string container, string prefix) =>
        [.. (await ListAsync(container, prefix)).Select(i => i.Blob.Path)];

    protected static async Task<(long Size, string Sha256)> MeasureAsync(Stream stream)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1024 * 1024];
        long size = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            size += read;
        }

        return (size, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static string CultureInfoInvariant(FormattableString text) => FormattableString.Invariant(text);

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex LowerHex64();

    [GeneratedRegex("^<w(\\d\\d)c\\d{3}:([a-z])\\2{39}>$")]
    private static partial Regex ChunkLine();
}
