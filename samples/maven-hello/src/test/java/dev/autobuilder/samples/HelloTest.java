package dev.autobuilder.samples;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class HelloTest {
    @Test
    public void messageNamesTheSample() {
        assertEquals("Hello from maven-hello", Hello.message());
    }
}
